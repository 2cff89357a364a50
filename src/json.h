/* Bridge to a private lua-cjson instance (cjson.safe.new()), kept per lua_State
 * in the registry: no global C state, and our settings never touch the caller's cjson. */
#ifndef ACR_JSON_H
#define ACR_JSON_H

#include "compat.h"

int acr_json_open(lua_State *L);  /* creates the instance; raises if lua-cjson is missing */

/* Decode s[0..len): pushes the value and returns 1, or pushes nothing and returns 0
 * when s is not JSON (the caller keeps the text). */
int acr_json_decode(lua_State *L, const char *s, size_t len);

/* Encode the value at idx: pushes the string and returns 1, or pushes an error message
 * and returns 0. */
int acr_json_encode(lua_State *L, int idx);

/* Pushes cjson's null sentinel. */
void acr_json_pushnull(lua_State *L);
int acr_json_isnull(lua_State *L, int idx);

/* Pushes t[k] when t at idx is a table and the field is a string, else returns NULL
 * and pushes nothing. */
const char *acr_json_getstring(lua_State *L, int idx, const char *k);

#endif
