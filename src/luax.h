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

#endif
