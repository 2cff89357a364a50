/* The blocking driver over libcurl's multi interface: driver.c sends the requests of a
 * client's operations and takes their answers in, drive.c waits. acr_op_start and
 * acr_op_wait, its entry points for the API methods, are declared in operation.h. */
#ifndef ACR_DRIVER_H
#define ACR_DRIVER_H

#include "compat.h"
#include "client.h"
#include "opstate.h"

/* client:close(): operations with a request out end with ClientClosed; the client's
 * transfers and connections are freed. cidx is the client userdata. */
void acr_driver_close(lua_State *L, int cidx);
/* The same without Lua (the client's __gc): frees transfers and connections. */
void acr_driver_free(acr_client *c);
/* client:drive([max_seconds]) */
int acr_client_drive(lua_State *L);
/* acr.drive(clients [, max_seconds]) into the module table at the top. */
void acr_driver_open(lua_State *L);
/* The blocking driver's methods (wait, result, poll) into the table at the top. */
void acr_driver_methods(lua_State *L);

/* ---- between driver.c and drive.c; cidx is the client userdata, opidx an operation ---- */

/* Adds the operation to the client's started ones (unless it has ended). */
void acr_driver_adopt(lua_State *L, int cidx, int opidx);
/* Sends the operation's next request, unless it has one out or waits for the token. */
void acr_driver_start(lua_State *L, int cidx, int opidx);
/* Starts the due requests of every started operation that the pacer lets go. */
void acr_driver_start_due(lua_State *L, int cidx);
/* The soonest time the client's next wake must look (HUGE_VAL: none): the soonest due
 * operation, or the wake for a kind with operations the pacer holds back. */
double acr_driver_next_due(const acr_client *c, double now);
/* Whether the next walk starts op's next request: it is due, nothing is out, no token
 * request is out, and the pacer neither holds it back nor holds it for its group. */
int acr_driver_startable(const acr_client *c, const acr_op *op, double now);
/* Takes in every finished transfer of the client. */
void acr_driver_harvest(lua_State *L, int cidx, acr_client *c);

#endif
