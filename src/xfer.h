/* The blocking driver's transfers (xfer.c): one request out, its libcurl handle, the
 * answer. driver.c schedules them; this part builds them and reads their answers. */
#ifndef ACR_XFER_H
#define ACR_XFER_H

#include "auth.h"
#include "client.h"
#include "http.h"
#include "opstate.h"

#define ACR_XFER_MAX_LINES 24

typedef struct acr_xfer {
  struct acr_xfer *next;   /* the client's list */
  acr_http *http;
  acr_http_response res;
  char *lines[ACR_XFER_MAX_LINES + 1];
  int nlines, secret;      /* lines[0..secret) carry a token or a secret: wiped */
  acr_auth_request req;    /* a token request (its form may hold a secret): wiped */
  int auth;                /* the credential's token request */
  double t0;
  char method[16];
  char *url;               /* for the log line */
} acr_xfer;

/* A new transfer on the client's list, or NULL out of memory. */
acr_xfer *acr_xfer_new(acr_client *c);
/* Unlinks x, wipes its secret lines and its token request, returns its handle to the pool. */
void acr_xfer_free(acr_client *c, acr_xfer *x);
/* Fills x in for the token request in x->req; *timeout becomes its own, if it has one. */
void acr_xfer_auth_request(lua_State *L, acr_xfer *x, double *timeout);
/* Fills x in for the ARM request r of the operation at idx. */
void acr_xfer_arm_request(lua_State *L, int idx, acr_xfer *x, const acr_op_request *r,
                          const acr_op *op);
/* Pushes feed()'s five values for x's answer (rc: acr_http_end's). */
void acr_xfer_push_answer(lua_State *L, const acr_xfer *x, int rc);
/* Hands the answer to a token request to the operation at opidx, from x's own buffers. */
void acr_xfer_feed_token(lua_State *L, int opidx, const acr_xfer *x, int rc);
/* x's log line into msg, only for a client that logs ("" otherwise). */
void acr_xfer_format_log(lua_State *L, int cidx, const acr_xfer *x, const char *request_id,
                         long status, char *msg, size_t n);

#endif
