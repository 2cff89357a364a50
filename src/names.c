/* Name and id rules for what the server sends back: see names.h. */
#include <string.h>
#include <strings.h>

#include "names.h"

#define ALNUM "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

int acr_name_valid(const char *name, size_t len, int is_token)
{
  if (!name || len < 5 || len > 50 || strlen(name) != len)  /* no embedded NUL */
    return 0;
  return strspn(name, is_token ? ALNUM "-" : ALNUM "-_") == len;
}

size_t acr_name_id_of_registry(const char *id, size_t len, const char *registry_path,
                               int is_token)
{
  const char *coll = is_token ? "/tokens/" : "/scopeMaps/";
  size_t rl = strlen(registry_path), cl = strlen(coll);
  if (!id || strlen(id) != len || len <= rl + cl)
    return 0;
  if (strncasecmp(id, registry_path, rl) || strncasecmp(id + rl, coll, cl))
    return 0;
  return acr_name_valid(id + rl + cl, len - rl - cl, is_token) ? rl + cl : 0;
}

void acr_name_push_segment(lua_State *L, const char *s, size_t len)
{
  static const char hex[] = "0123456789ABCDEF";
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (size_t i = 0; i < len; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
        ch == '-' || ch == '_' || ch == '.' || ch == '~') {
      luaL_addchar(&b, (char)ch);
    } else {
      luaL_addchar(&b, '%');
      luaL_addchar(&b, hex[ch >> 4]);
      luaL_addchar(&b, hex[ch & 15]);
    }
  }
  luaL_pushresult(&b);
}
