/* Helpers shared by the parts of the core; see luax.h. */
#include <string.h>

#include "luax.h"

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
