/* The operation's state machine as a driver sees it (driver.c): what to send next,
 * the answer handed back, and where the operation stands. acr.resty uses the same
 * machine through the Lua methods next_request/feed/delay. */
#ifndef ACR_OPSTATE_H
#define ACR_OPSTATE_H

#include "compat.h"
#include "auth.h"
#include "client.h"

typedef struct acr_op acr_op;

typedef enum { ACR_NEXT_ARM, ACR_NEXT_AUTH, ACR_NEXT_NONE } acr_next_kind;

typedef struct acr_op_request {
  const char *method, *url, *body;   /* valid while the operation lives */
  size_t body_len;
  const char *token;     /* the bearer token: the credential's memory, never a Lua string */
  double timeout;        /* seconds */
  int idempotent;        /* safe to repeat after a dropped connection */
} acr_op_request;

acr_op *acr_op_check(lua_State *L, int idx);
acr_client *acr_op_client(const acr_op *op);
int acr_op_finished(const acr_op *op);
int acr_op_answered(const acr_op *op);      /* ARM has answered once */
double acr_op_due(const acr_op *op);        /* monotonic time the next request is due */
const char *acr_op_request_id(const acr_op *op);
/* Copies out, and clears, the line for the wait the last answer led to (a retry, a
 * 429 waited out): "" when there was none. The driver logs it after the exchange. */
void acr_op_take_note(acr_op *op, char *out, size_t n);
const char *acr_op_status(const acr_op *op);
const char *acr_op_method(const acr_op *op);  /* of the next ARM request */
int acr_op_paced(const acr_op *op);           /* its request is counted by the pacer */
void acr_op_defer(acr_op *op, double t);      /* nothing is sent before t (monotonic) */
void *acr_op_transfer(const acr_op *op);    /* the driver's transfer in flight, or NULL */
void acr_op_set_transfer(acr_op *op, void *xfer, double deadline);
double acr_now(void);                       /* the monotonic clock operations use */

/* What goes out next. ACR_NEXT_ARM: the request is in *r. ACR_NEXT_AUTH: the
 * credential's token request is in *auth (initialised and freed by the caller; it
 * holds secrets in C memory), r->timeout and r->idempotent are set. ACR_NEXT_NONE:
 * the operation ended (getting a token failed, or it was done). */
acr_next_kind acr_op_next(lua_State *L, int idx, acr_op_request *r, acr_auth_request *auth);

/* Calls fn(name, value) for each extra header given to the call. */
typedef void (*acr_header_fn)(lua_State *L, const char *name, const char *value, void *ud);
void acr_op_each_header(lua_State *L, int idx, acr_header_fn fn, void *ud);

/* feed()'s five values at stack positions a..a+4: status, headers, body, transport
 * error, message. */
void acr_op_feed(lua_State *L, int idx, int a);
/* The answer to the token request ACR_NEXT_AUTH gave, read from C memory. */
void acr_op_feed_auth(lua_State *L, int idx, const acr_auth_answer *a);
void acr_op_fail(lua_State *L, int idx, const char *code, const char *msg);
int acr_op_push_result(lua_State *L, int idx);   /* the value, or nil and an acr.Error */

#endif
