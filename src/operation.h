/* acr.Operation: one API call as a state machine. It says what request to send next
 * (next_request, delay) and consumes each response (feed); a driver performs the
 * requests: the C driver here (libcurl + nanosleep), or the OpenResty driver in Lua. */
#ifndef ACR_OPERATION_H
#define ACR_OPERATION_H

#include "compat.h"
#include "lro.h"

#define ACR_OPERATION_MT "acr.Operation"
/* The longest x-ms-client-request-id a caller may give (ARM logs it as it came). */
#define ACR_MAX_REQUEST_ID 128

/* What result() turns the final body into. */
typedef enum acr_shape {
  ACR_SHAPE_RAW = 0,       /* {status=, headers=, body=} */
  ACR_SHAPE_SCOPEMAP,      /* acr.ScopeMap */
  ACR_SHAPE_TOKEN,         /* acr.Token */
  ACR_SHAPE_CREDENTIALS,   /* generateCredentials' {username=, passwords=} */
  ACR_SHAPE_DELETED,       /* true */
  ACR_SHAPE_PAGE           /* the decoded body, for the pager */
} acr_shape;

/* Makes the value result() returns of the document at doc (a resource object of the
 * client at cidx, say). The caller's: the state machine builds no resources. */
typedef void (*acr_result_fn)(lua_State *L, int cidx, acr_shape shape, int doc);

typedef struct acr_op_spec {
  const char *method;
  const char *url;          /* absolute */
  const char *body;         /* JSON text or NULL */
  size_t body_len;
  int lro;                  /* follow ARM's long-running-operation contract */
  acr_shape shape;
  acr_final_via final_via;
  int idempotent;           /* safe to repeat after a dropped connection */
  double timeout;           /* per request override; 0 = the client's */
  int headers_idx;          /* a table of extra request headers, or 0; an
                               x-ms-client-request-id in it is the operation's id */
  acr_result_fn wrap;       /* NULL: result() is the document (or the raw response) */
} acr_op_spec;

int acr_operation_open(lua_State *L);

/* Pushes a new, unsent operation of the client at cidx. */
void acr_op_push(lua_State *L, int cidx, const acr_op_spec *spec);

/* Drives the operation at idx to its end with the C driver, then pushes what
 * result() gives: the value, or nil and an acr.Error. Returns the count pushed. */
int acr_op_wait(lua_State *L, int idx);

/* Sends the operation's first request (the begin_* methods). */
void acr_op_start(lua_State *L, int idx);

#endif
