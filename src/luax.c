/* Helpers shared by the parts of the core; see luax.h. */
#include <math.h>
#include <string.h>

#include "luax.h"
#include "names.h"

const char *acr_unknown_key(lua_State *L, int t, const char *const *allowed)
{
  t = lua_absindex(L, t);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    const char *k = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "?";
    int i = 0;
    while (allowed[i] && strcmp(allowed[i], k))
      i++;
    if (!allowed[i]) {
      lua_pop(L, 1);
      return k;
    }
  }
  return NULL;
}

void acr_uv_get(lua_State *L, int idx, const char *k)
{
  acr_getuservalue(L, idx);
  lua_getfield(L, -1, k);
  lua_remove(L, -2);
}

void acr_uv_set(lua_State *L, int idx, const char *k)
{
  idx = lua_absindex(L, idx);
  acr_getuservalue(L, idx);
  lua_insert(L, -2);
  lua_setfield(L, -2, k);
  lua_pop(L, 1);
}

int acr_seconds_ok(double v, double min, int exclusive)
{
  if (!isfinite(v) || v > ACR_MAX_SECONDS)
    return 0;
  return exclusive ? v > min : v >= min;
}

int acr_is_cstring(lua_State *L, int idx)
{
  if (lua_type(L, idx) == LUA_TNUMBER)
    return 1;
  if (lua_type(L, idx) != LUA_TSTRING)
    return 0;
  size_t len;
  const char *s = lua_tolstring(L, idx, &len);
  return strlen(s) == len;
}

const char *acr_check_cstring(lua_State *L, int arg)
{
  const char *s = luaL_checkstring(L, arg);
  if (!acr_is_cstring(L, arg))
    luaL_argerror(L, arg, "string must not contain a NUL byte");
  return s;
}

int acr_is_token(const char *s)
{
  static const char tchar[] = "!#$%&'*+-.^_`|~" ACR_ALNUM;
  size_t n = strlen(s);
  return n > 0 && strspn(s, tchar) == n;
}

int acr_is_one_line(const char *s)
{
  for (; *s; s++)
    if (((unsigned char)*s < 0x20 && *s != '\t') || *s == 0x7f)
      return 0;
  return 1;
}
