/* Lua 5.1/LuaJIT <-> 5.4 shims: the rest of the core keeps to the API both share.
 * LuaJIT 2.1 already has luaL_setfuncs, luaL_testudata, luaL_setmetatable and
 * lua_tointegerx; lua_getfield returns void there, so callers never use its result. */
#ifndef ACR_COMPAT_H
#define ACR_COMPAT_H

#include <lua.h>
#include <lauxlib.h>
#include <lualib.h>

#if LUA_VERSION_NUM < 502
#define lua_rawlen(L, i) lua_objlen((L), (i))
#define lua_absindex(L, i) \
  (((i) > 0 || (i) <= LUA_REGISTRYINDEX) ? (i) : lua_gettop(L) + (i) + 1)
/* One uservalue slot: LuaJIT keeps it in the userdata's environment table. */
#define acr_newuserdata(L, sz) lua_newuserdata((L), (sz))
#define acr_setuservalue(L, i) lua_setfenv((L), (i))
#define acr_getuservalue(L, i) lua_getfenv((L), (i))
#else
#define acr_newuserdata(L, sz) lua_newuserdatauv((L), (sz), 1)
#define acr_setuservalue(L, i) lua_setiuservalue((L), (i), 1)
#define acr_getuservalue(L, i) lua_getiuservalue((L), (i), 1)
#endif

/* 5.4 names a new metatable in __name; LuaJIT does not: do it for both, so that
 * getmetatable(x).__name tells every type apart. Leaves the metatable pushed. */
#define acr_newmetatable(L, name) \
  (luaL_newmetatable((L), (name)), lua_pushstring((L), (name)), lua_setfield((L), -2, "__name"))

/* luaL_newlib sizes the table from an array type; this takes a pointer too. */
#define acr_newlib(L, l) (lua_newtable(L), luaL_setfuncs((L), (l), 0))

#if defined(__GNUC__)
#define ACR_EXPORT __attribute__((visibility("default")))
#else
#define ACR_EXPORT
#endif

#endif
