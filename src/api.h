/* The 11 operations of the API as acr.Operation builders, shared by the client's
 * methods and the ScopeMap/Token methods. Each pushes a new, unsent operation. */
#ifndef ACR_API_H
#define ACR_API_H

#include "compat.h"

typedef enum acr_kind { ACR_KIND_SCOPEMAP = 0, ACR_KIND_TOKEN = 1 } acr_kind;

void acr_api_push_get(lua_State *L, int cidx, acr_kind kind, const char *name);
/* props at pidx: checked (raising, naming argument parg) and turned into the body. */
void acr_api_push_create(lua_State *L, int cidx, acr_kind kind, const char *name, int pidx,
                         int parg);
void acr_api_push_update(lua_State *L, int cidx, acr_kind kind, const char *name, int pidx,
                         int parg);
void acr_api_push_delete(lua_State *L, int cidx, acr_kind kind, const char *name);
/* args at aidx: {token=, name=, expiry=}; token given by the caller, or the Token at
 * token_idx when nonzero. */
void acr_api_push_generate(lua_State *L, int cidx, int aidx, int token_idx, int arg);

int acr_api_open(lua_State *L);

/* client:request's builder (request.c): args (client, method, url, opts) at 1..4. */
void acr_request_build(lua_State *L);
int acr_request_open(lua_State *L);  /* adds client:request, begin_request, pages */  /* adds the client methods */

/* Adds functions to the __index table of the metatable named tname. */
void acr_add_methods(lua_State *L, const char *tname, const luaL_Reg *l);

#endif
