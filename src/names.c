/* Name and id rules for what the server sends back: see names.h. */
#include <string.h>
#include <strings.h>

#include "names.h"

int acr_name_valid(const char *name, size_t len, int is_token)
{
  if (!name || len < 5 || len > 50 || strlen(name) != len)  /* no embedded NUL */
    return 0;
  return strspn(name, is_token ? ACR_ALNUM "-" : ACR_ALNUM "-_") == len;
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

int acr_api_version_valid(const char *s)
{
  size_t n = strlen(s);
  return n > 0 && strspn(s, ACR_ALNUM ".-") == n;
}
