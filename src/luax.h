/* Small Lua C API helpers the parts share: option-table key checks and the fields
 * kept in a userdata's uservalue table. */
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

/* luaL_checkstring that also refuses an embedded NUL byte, naming argument arg. */
const char *acr_check_cstring(lua_State *L, int arg);

/* 1 when s is a non-empty RFC 9110 token (a header field name). */
int acr_is_token(const char *s);

/* 1 when s holds no CR, LF or other control byte (tab excepted): one line of text. */
int acr_is_one_line(const char *s);

#endif
