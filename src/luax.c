/* Helpers shared by the parts of the core; see luax.h. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
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

/* ---- misuse ---- */

void acr_setfuncs(lua_State *L, const luaL_Reg *l, const char *prefix)
{
  for (; l->name; l++) {
    acr_pushfunc(L, l->func, lua_pushfstring(L, "%s%s", prefix, l->name));
    lua_remove(L, -2);
    lua_setfield(L, -2, l->name);
  }
}

void acr_pushfunc(lua_State *L, lua_CFunction f, const char *fname)
{
  lua_pushstring(L, fname);
  lua_pushcclosure(L, f, 1);
}

const char *acr_fname(lua_State *L)
{
  const char *n = lua_type(L, lua_upvalueindex(1)) == LUA_TSTRING
                  ? lua_tostring(L, lua_upvalueindex(1)) : NULL;
  return n ? n : "?";
}

static int raise(lua_State *L, int arg, const char *msg)
{
  return luaL_error(L, "bad argument #%d to '%s' (%s)", arg, acr_fname(L), msg);
}

int acr_argerror(lua_State *L, int arg, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  const char *msg = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return raise(L, arg, msg);
}

int acr_opterror(lua_State *L, int arg, const char *key, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  const char *msg = lua_pushvfstring(L, fmt, ap);
  va_end(ap);
  return raise(L, arg, lua_pushfstring(L, "option '%s' %s", key, msg));
}

const char *acr_type_name(lua_State *L, int idx)
{
  if (luaL_getmetafield(L, idx, "__name")) {
    if (lua_type(L, -1) == LUA_TSTRING)
      return lua_tostring(L, -1);   /* held by the metatable */
    lua_pop(L, 1);
  }
  return luaL_typename(L, idx);
}

int acr_typeerror(lua_State *L, int arg, const char *tname)
{
  return acr_argerror(L, arg, "%s expected, got %s", tname, acr_type_name(L, arg));
}

void acr_check_table(lua_State *L, int arg)
{
  if (lua_type(L, arg) != LUA_TTABLE)
    acr_typeerror(L, arg, "table");
}

void *acr_check_udata(lua_State *L, int arg, const char *mt, const char *tname)
{
  void *p = luaL_testudata(L, arg, mt);
  if (!p)
    acr_typeerror(L, arg, tname);
  return p;
}

lua_Integer acr_check_integer(lua_State *L, int arg)
{
  if (lua_type(L, arg) != LUA_TNUMBER)
    acr_typeerror(L, arg, "integer");
  double v = lua_tonumber(L, arg);
  if (!(v >= -9007199254740992.0 && v <= 9007199254740992.0) || v != floor(v))
    acr_argerror(L, arg, "integer expected, got a number with a fraction or out of range");
  return (lua_Integer)v;
}

const char *acr_check_cstring(lua_State *L, int arg)
{
  if (!lua_isstring(L, arg))
    acr_typeerror(L, arg, "string");
  if (!acr_is_cstring(L, arg))
    acr_argerror(L, arg, "string must not contain a NUL byte");
  return lua_tostring(L, arg);
}

const char *acr_opt_cstring(lua_State *L, int arg, const char *dflt)
{
  return lua_isnoneornil(L, arg) ? dflt : acr_check_cstring(L, arg);
}

int acr_check_options(lua_State *L, int arg, int optional, const char *const *allowed)
{
  if (optional && lua_isnoneornil(L, arg))
    return 0;
  acr_check_table(L, arg);
  const char *k = acr_unknown_key(L, arg, allowed);
  if (k)
    acr_argerror(L, arg, "unknown option '%s'", k);
  return arg;
}

void acr_check_suboptions(lua_State *L, int arg, int t, const char *key,
                          const char *const *allowed)
{
  const char *k = acr_unknown_key(L, t, allowed);
  if (k)
    acr_argerror(L, arg, "unknown option '%s.%s'", key, k);
}

/* Pushes option key of t (its last dotted part), nil when there is no table. Raw, as
 * acr_unknown_key reads the keys: an __index could hand out a string that nothing
 * holds once popped, and options are what the table itself says. */
static int get_opt(lua_State *L, int t, const char *key)
{
  if (!t) {
    lua_pushnil(L);
    return LUA_TNIL;
  }
  t = lua_absindex(L, t);
  const char *leaf = strrchr(key, '.');
  lua_pushstring(L, leaf ? leaf + 1 : key);
  lua_rawget(L, t);
  return lua_type(L, -1);
}

const char *acr_opt_string(lua_State *L, int t, int arg, const char *key, int flags)
{
  int ty = get_opt(L, t, key);
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    if (flags & ACR_OPT_REQUIRED)
      acr_opterror(L, arg, key, "is required");
    return NULL;
  }
  if (ty != LUA_TSTRING)
    acr_opterror(L, arg, key, "must be a string, got %s", acr_type_name(L, -1));
  if (!acr_is_cstring(L, -1))
    acr_opterror(L, arg, key, "must not contain a NUL byte");
  const char *s = lua_tostring(L, -1);
  lua_pop(L, 1);  /* still referenced by the options table */
  if (!*s && (flags & ACR_OPT_NONEMPTY))
    acr_opterror(L, arg, key, "must not be empty");
  return s;
}

/* Every duration has an upper bound (ACR_MAX_SECONDS, a week): NaN, the infinities and
 * huge values never reach a float-to-integer conversion. */
double acr_opt_seconds(lua_State *L, int t, int arg, const char *key, double dflt, double min,
                       int exclusive)
{
  int ty = get_opt(L, t, key);
  double v = lua_tonumber(L, -1);
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    return dflt;
  }
  if (ty != LUA_TNUMBER)
    acr_opterror(L, arg, key, "must be a number, got %s", acr_type_name(L, -1));
  lua_pop(L, 1);
  if (!isfinite(v))
    acr_opterror(L, arg, key, "must be a finite number (not NaN or infinite)");
  if (!acr_seconds_ok(v, min, exclusive)) {
    char m[32];
    snprintf(m, sizeof m, "%s %g", exclusive ? ">" : ">=", min);
    acr_opterror(L, arg, key, "must be %s and at most %d seconds", m, (int)ACR_MAX_SECONDS);
  }
  return v;
}

long acr_opt_count(lua_State *L, int t, int arg, const char *key, long dflt, long min,
                   long max)
{
  int ty = get_opt(L, t, key);
  double v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (ty == LUA_TNIL)
    return dflt;
  if (ty != LUA_TNUMBER || !(v >= (double)min && v <= (double)max) || v != floor(v))
    acr_opterror(L, arg, key, "must be a whole number from %d to %d", (int)min, (int)max);
  return (long)v;
}

int acr_opt_bool(lua_State *L, int t, int arg, const char *key, int dflt)
{
  int ty = get_opt(L, t, key);
  int v = lua_toboolean(L, -1);
  if (ty == LUA_TNIL) {
    lua_pop(L, 1);
    return dflt;
  }
  if (ty != LUA_TBOOLEAN)
    acr_opterror(L, arg, key, "must be a boolean, got %s", acr_type_name(L, -1));
  lua_pop(L, 1);
  return v;
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
