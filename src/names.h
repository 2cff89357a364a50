/* Name rules of the OpenAPI document, as predicates: for names and ids that come
 * from the server's answers, which are checked before they become part of a URL
 * (the raising checks for callers' arguments are in client.c). */
#ifndef ACR_NAMES_H
#define ACR_NAMES_H

#include <stddef.h>

#include "compat.h"

/* scopeMapName ^[a-zA-Z0-9-_]*$, tokenName ^[a-zA-Z0-9-]*$, both 5 to 50 characters. */
int acr_name_valid(const char *name, size_t len, int is_token);

/* A resource id "<registry_path>/<collection>/<valid name>" (compared case-insensitively,
 * as ARM ids are), collection "scopeMaps" or "tokens". Returns the name's offset in id,
 * or 0 when id is not one. */
size_t acr_name_id_of_registry(const char *id, size_t len, const char *registry_path,
                               int is_token);

/* Pushes s percent-encoded as one URL path segment (only unreserved bytes kept). */
void acr_name_push_segment(lua_State *L, const char *s, size_t len);

#endif
