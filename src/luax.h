/* Small Lua C API helpers the parts share: the checks of arguments and options, which
 * give every misuse one shape, and the fields kept in a userdata's uservalue table. */
#ifndef ACR_LUAX_H
#define ACR_LUAX_H

#include "compat.h"

/* The first key of the table at t that is not in allowed (NULL-terminated), or NULL.
 * A key that is not a string reads "?". The string stays owned by the table. */
const char *acr_unknown_key(lua_State *L, int t, const char *const *allowed);

/* Pushes uservalue[k] of the userdata at idx. */
void acr_uv_get(lua_State *L, int idx, const char *k);
/* uservalue[k] = the value on top, which is popped. */
void acr_uv_set(lua_State *L, int idx, const char *k);

/* Every duration has an upper bound: a week of seconds is plenty, and keeps the
 * millisecond conversions for libcurl and the sleeps in range. */
#define ACR_MAX_SECONDS 604800.0

/* 1 when v is a finite number of seconds, >= min (> min when exclusive) and at most
 * ACR_MAX_SECONDS; NaN and the infinities never are. */
int acr_seconds_ok(double v, double min, int exclusive);

/* 1 when the value at idx is a number, or a string with no NUL byte inside it (so C
 * sees all of it); 0 for anything else. Every string the core takes into C as a
 * NUL-terminated one is checked with this first. Never converts in place. */
int acr_is_cstring(lua_State *L, int idx);

/* ---- misuse: one shape, as lauxlib's luaL_argerror gives it ----
 *
 * Every misuse raises "bad argument #N to 'fn' (message)", with the caller's position
 * in front as luaL_error puts it. fn is the public name the running C function was
 * registered under (acr_setfuncs, acr_pushfunc): "acr.client", "create_token", … — never
 * read from debug information, which has no name under pcall or through a C call and
 * counts arguments differently for obj:method(). N counts self: in
 * client:create_token(name, props), name is #2. An option of a table argument is
 * named in the message: "bad argument #1 to 'acr.client' (option 'registry' …)". */

/* Sets the functions of l into the table at the top, each a closure carrying its public
 * name, prefix .. l->name ("acr.credential." .. "static"; "" for methods). */
void acr_setfuncs(lua_State *L, const luaL_Reg *l, const char *prefix);
/* Pushes f as a closure carrying the public name fname. */
void acr_pushfunc(lua_State *L, lua_CFunction f, const char *fname);
/* The public name of the running C function ("?" for one registered otherwise). */
const char *acr_fname(lua_State *L);

/* The type name of the value at idx: its metatable's __name (acr.Client, …) if any,
 * else Lua's. The string may be pushed: call it just before raising. */
const char *acr_type_name(lua_State *L, int idx);

/* Raises "bad argument #arg to 'fn' (fmt…)"; fmt as lua_pushfstring's. */
int acr_argerror(lua_State *L, int arg, const char *fmt, ...);
/* Raises "bad argument #arg to 'fn' (<tname> expected, got <type of arg>)". */
int acr_typeerror(lua_State *L, int arg, const char *tname);
/* Raises "bad argument #arg to 'fn' (option '<key>' fmt…)". */
int acr_opterror(lua_State *L, int arg, const char *key, const char *fmt, ...);

/* The checks of an argument, as luaL_check*: each raises with the shape above. */
void acr_check_table(lua_State *L, int arg);
void *acr_check_udata(lua_State *L, int arg, const char *mt, const char *tname);
lua_Integer acr_check_integer(lua_State *L, int arg);
const char *acr_opt_cstring(lua_State *L, int arg, const char *dflt);
/* luaL_checkstring that also refuses an embedded NUL byte. */
const char *acr_check_cstring(lua_State *L, int arg);

/* The options table argument arg: a table, or absent when optional (returns 0 then,
 * else arg); any key not in allowed (NULL-terminated) raises naming it. */
int acr_check_options(lua_State *L, int arg, int optional, const char *const *allowed);
/* As acr_check_options for the table t inside an option: key names that option, and
 * an unknown field reads "option 'key.field' is not known". */
void acr_check_suboptions(lua_State *L, int arg, int t, const char *key,
                          const char *const *allowed);

/* Option key of the table t (0: none given, every option absent), as argument arg.
 * A dotted key ("retry.max_retries") names an option inside an option: its last part
 * is read from t. Absent options give dflt / NULL. */
#define ACR_OPT_REQUIRED 1   /* absent raises */
#define ACR_OPT_NONEMPTY 2   /* "" raises */
const char *acr_opt_string(lua_State *L, int t, int arg, const char *key, int flags);
/* A finite number >= min (> min when exclusive) and at most ACR_MAX_SECONDS. */
double acr_opt_seconds(lua_State *L, int t, int arg, const char *key, double dflt, double min,
                       int exclusive);
/* A whole number in min..max. */
long acr_opt_count(lua_State *L, int t, int arg, const char *key, long dflt, long min,
                   long max);
int acr_opt_bool(lua_State *L, int t, int arg, const char *key, int dflt);

/* 1 when s is a non-empty RFC 9110 token (a header field name). */
int acr_is_token(const char *s);

/* 1 when s holds no CR, LF or other control byte (tab excepted): one line of text. */
int acr_is_one_line(const char *s);

#endif
