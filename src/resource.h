/* acr.ScopeMap and acr.Token: userdata over the ARM document, with snake_case fields
 * and methods that go through the owning client. */
#ifndef ACR_RESOURCE_H
#define ACR_RESOURCE_H

#include "compat.h"
#include "operation.h"

#define ACR_SCOPEMAP_MT "acr.ScopeMap"
#define ACR_TOKEN_MT "acr.Token"
#define ACR_CREDENTIALS_MT "acr.GeneratedCredentials"

int acr_resource_open(lua_State *L);

/* Pushes a ScopeMap or Token for the ARM document (a table) at doc_idx, owned by the
 * client at cidx; or the generated credentials table for ACR_SHAPE_CREDENTIALS. */
void acr_resource_push(lua_State *L, int cidx, acr_shape shape, int doc_idx);

/* The resource id of a ScopeMap / Token argument given as an object, a name or a
 * full id; pushes it. Raises naming arg when it is none of these. */
void acr_resource_push_id(lua_State *L, int cidx, int arg, int is_token);

#endif
