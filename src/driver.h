/* The blocking driver over libcurl's multi interface (driver.c). acr_op_start and
 * acr_op_wait, its entry points for the API methods, are declared in operation.h. */
#ifndef ACR_DRIVER_H
#define ACR_DRIVER_H

#include "compat.h"
#include "client.h"

/* client:close(): operations with a request out end with ClientClosed; the client's
 * transfers and connections are freed. cidx is the client userdata. */
void acr_driver_close(lua_State *L, int cidx);
/* The same without Lua (the client's __gc): frees transfers and connections. */
void acr_driver_free(acr_client *c);
/* client:drive([max_seconds]) */
int acr_client_drive(lua_State *L);
/* The blocking driver's methods (wait, result, poll) into the table at the top. */
void acr_driver_methods(lua_State *L);

#endif
