/* lua-cjson through a private instance: Debian ships it for Lua 5.1 to 5.4 and
 * OpenResty ships its fork; both provide cjson.safe.new(). */
#include <string.h>

#include "json.h"

static const char JSON_KEY = 'j';  /* its address keys the instance in the registry */

int acr_json_open(lua_State *L)
{
  lua_getglobal(L, "require");
  lua_pushliteral(L, "cjson.safe");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "new");
  lua_call(L, 0, 1);
  /* Reject NaN/Inf rather than emit invalid JSON; allow deep ARM documents. */
  lua_getfield(L, -1, "encode_invalid_numbers");
  lua_pushboolean(L, 0);
  lua_call(L, 1, 0);
  lua_getfield(L, -1, "decode_max_depth");
  lua_pushinteger(L, 64);
  lua_call(L, 1, 0);
  lua_pushlightuserdata(L, (void *)&JSON_KEY);
  lua_pushvalue(L, -2);
  lua_rawset(L, LUA_REGISTRYINDEX);
  lua_pop(L, 2);
  return 0;
}

static void push_instance_fn(lua_State *L, const char *fn)
{
  lua_pushlightuserdata(L, (void *)&JSON_KEY);
  lua_rawget(L, LUA_REGISTRYINDEX);
  lua_getfield(L, -1, fn);
  lua_remove(L, -2);
}

/* ARM sometimes omits or mislabels Content-Type, so the text decides: only a
 * document that starts like JSON is handed to the decoder. */
static int looks_like_json(const char *s, size_t len)
{
  size_t i = 0;
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
    i++;
  if (i == len)
    return 0;
  return strchr("{[\"ntf-0123456789", s[i]) != NULL;
}

int acr_json_decode(lua_State *L, const char *s, size_t len)
{
  if (!s || !looks_like_json(s, len))
    return 0;
  push_instance_fn(L, "decode");
  lua_pushlstring(L, s, len);
  lua_call(L, 1, 2);
  if (lua_isnil(L, -2) && !lua_isnil(L, -1)) {  /* nil, err: not JSON after all */
    lua_pop(L, 2);
    return 0;
  }
  lua_pop(L, 1);
  return 1;
}

int acr_json_encode(lua_State *L, int idx)
{
  idx = lua_absindex(L, idx);
  push_instance_fn(L, "encode");
  lua_pushvalue(L, idx);
  lua_call(L, 1, 2);
  if (lua_isnil(L, -2)) {
    lua_remove(L, -2);
    return 0;
  }
  lua_pop(L, 1);
  return 1;
}

void acr_json_pushnull(lua_State *L)
{
  push_instance_fn(L, "null");
}

int acr_json_isnull(lua_State *L, int idx)
{
  idx = lua_absindex(L, idx);
  acr_json_pushnull(L);
  int r = lua_rawequal(L, idx, -1);
  lua_pop(L, 1);
  return r;
}

const char *acr_json_getstring(lua_State *L, int idx, const char *k)
{
  if (!lua_istable(L, idx))
    return NULL;
  lua_getfield(L, idx, k);
  if (lua_type(L, -1) != LUA_TSTRING) {
    lua_pop(L, 1);
    return NULL;
  }
  return lua_tostring(L, -1);
}
