/* The operation's state, shared by the state machine (operation.c) and its methods
 * and driver interface (op_methods.c). Nothing else includes this. */
#ifndef ACR_OP_PRIVATE_H
#define ACR_OP_PRIVATE_H

#include "auth.h"
#include "buf.h"
#include "client.h"
#include "lro.h"
#include "operation.h"

typedef enum { PH_INITIAL, PH_POLL, PH_FINAL, PH_DONE } acr_phase;

#define ACR_MAX_POLL_WAIT 3600.0
#define ACR_MAX_FETCHES 8   /* token requests in a row with no ARM request between */
/* Throttling is not failure: an operation waits out 429s with a Retry-After, without
 * using up its retries, for this long in all (and within lro_timeout). */
#define ACR_MAX_THROTTLED 900.0
#define ACR_STR_(x) #x
#define ACR_STR(x) ACR_STR_(x)

typedef struct acr_op {
  acr_client *client;     /* kept alive by the client userdata in our uservalue */
  char method[16];
  /* The strings point into Lua strings the uservalue holds (see keep_string). */
  const char *url;        /* the original URL */
  const char *body;       /* the request body, or NULL */
  size_t body_len;
  const char *target;     /* URL of the next request */
  const char *location;   /* Location of the initial response, for a POST's result */
  acr_phase phase;
  acr_poll_via via;
  acr_shape shape;
  acr_final_via final_via;
  acr_result_fn wrap;     /* builds result()'s value of the document, or NULL */
  int lro, idempotent, attempt, auth_retried;
  int awaiting_auth;      /* the request out is the credential's token request */
  int answered;           /* ARM has answered at least once (not only the token endpoint) */
  int stale_ok;           /* a token refresh failed: use the cached token while valid */
  int just_fetched;       /* a token just came: the next request uses it while valid */
  int fetches;            /* token fetches since the last ARM request went out */
  int token_attempt;      /* token requests retried after a transport failure */
  double timeout;         /* per request, seconds */
  double not_before;      /* monotonic time before which nothing is sent */
  double deadline;        /* monotonic; 0 = none */
  void *xfer;             /* the driver's transfer in flight, or NULL (driver.c) */
  double xfer_deadline;   /* when that transfer times out, monotonic */
  double throttled;       /* seconds waited out on 429s */
  unsigned long token_gen; /* the credential's generation of the token last sent */
  int paced;              /* the request out is counted by the client's pacer */
  long answer_status;     /* the answer feed() is taking in: its HTTP status... */
  int answer_hdr;         /* ...and its headers' stack index (0 = none), valid only then */
  char status[32];
  char request_id[ACR_MAX_REQUEST_ID + 1];   /* ours (a UUID) or the caller's */
  char note[96];          /* the last wait decided (a retry, throttling), for the log */
} acr_op;

/* operation.c, for op_methods.c and op_lro.c */
acr_op *acr_opi_check_op(lua_State *L, int idx);
void acr_opi_fail(lua_State *L, int idx, acr_op *op);   /* pops the error at top */
void acr_opi_fail_with(lua_State *L, int idx, acr_op *op, const char *code, const char *msg);
/* The same for an answer that cannot be used: the error has its status and ids. */
void acr_opi_fail_answer(lua_State *L, int idx, acr_op *op, const char *code, const char *msg);
/* feed()'s five values at a..a+4 */
void acr_opi_feed(lua_State *L, int idx, acr_op *op, int a);
void acr_opi_feed_auth(lua_State *L, int idx, acr_op *op, const acr_auth_answer *a);
const char *acr_opi_current_method(const acr_op *op);    /* of the next ARM request */
int acr_opi_push_credential(lua_State *L, int idx);     /* pushes it; its index */
acr_token_target acr_opi_token_target(const acr_op *op);
/* Stores s[0..len) as the operation's uservalue[k]; the copy lives while that field does. */
const char *acr_opi_keep_string(lua_State *L, int idx, const char *k, const char *s, size_t len);
void acr_opi_finish(lua_State *L, int idx, acr_op *op, int result_idx);
const char *acr_opi_header(lua_State *L, int hdr, const char *name);   /* lower-case name */
double acr_opi_retry_after(lua_State *L, int hdr);                     /* seconds, or < 0 */

/* op_lro.c: the first answer of an LRO, and each poll's, with feed()'s decoded values
 * (hdr, doc: 0 when absent; res: result()'s value made of this answer, or 0). */
void acr_opi_lro_begin(lua_State *L, int idx, acr_op *op, long status, int hdr, int doc, int res);
void acr_opi_lro_poll(lua_State *L, int idx, acr_op *op, long status, int hdr, int doc, int res);

/* op_auth.c: the error at top ends the operation, marked err.during = "token" */
void acr_opi_fail_token(lua_State *L, int idx, acr_op *op);
/* op_methods.c: the line retry n is logged with, "retry n/max in s (why)": why is
 * "HTTP <status>" when status > 0, else what (a transport failure's code) */
void acr_opi_note_retry(acr_op *op, int n, double wait, long status, const char *what);
void acr_opi_note_throttled(acr_op *op, double wait);

#endif
