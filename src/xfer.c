/* A transfer of the blocking driver: the request it sends, built in C memory (headers
 * with a token or a secret are wiped when it is freed), and how its answer is handed to
 * the operation and described in the log. The scheduling is driver.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "luax.h"
#include "pool.h"
#include "xfer.h"

static void add_line(lua_State *L, const char *name, const char *value, void *ud)
{
  acr_xfer *x = ud;
  (void)L;
  if (x->nlines >= ACR_XFER_MAX_LINES - 4)
    return;
  size_t len = strlen(name) + strlen(value) + 3;
  char *s = malloc(len);
  if (s) {
    snprintf(s, len, "%s: %s", name, value);
    x->lines[x->nlines++] = s;
  }
}

static void xfer_unlink(acr_client *c, acr_xfer *x)
{
  for (acr_xfer **p = &c->xfers; *p; p = &(*p)->next) {
    if (*p == x) {
      *p = x->next;
      break;
    }
  }
}

void acr_xfer_free(acr_client *c, acr_xfer *x)
{
  xfer_unlink(c, x);
  for (int i = 0; i < x->nlines; i++) {
    if (i < x->secret)
      acr_cleanse(x->lines[i], strlen(x->lines[i]));
    free(x->lines[i]);
  }
  acr_auth_request_free(&x->req);
  acr_http_response_free(&x->res);
  if (x->http && c->pool)
    acr_pool_put(c->pool, x->http);
  free(x->url);
  free(x);
}


acr_xfer *acr_xfer_new(acr_client *c)
{
  acr_xfer *x = calloc(1, sizeof *x);
  if (!x)
    return NULL;
  acr_http_response_init(&x->res);
  acr_auth_request_init(&x->req);
  x->next = c->xfers;
  c->xfers = x;
  return x;
}

/* The token request, sent from C memory: every header is secret (X-IDENTITY-HEADER is
 * one), and the form may hold a client secret or an assertion. */
void acr_xfer_auth_request(lua_State *L, acr_xfer *x, double *timeout)
{
  for (int i = 0; x->req.headers[i]; i += 2)
    add_line(L, x->req.headers[i], x->req.headers[i + 1], x);
  x->secret = x->nlines;
  if (x->req.timeout > 0)
    *timeout = x->req.timeout;
  snprintf(x->method, sizeof x->method, "%s", x->req.method ? x->req.method : "");
  x->url = strdup(x->req.url.data ? x->req.url.data : "");
}

void acr_xfer_arm_request(lua_State *L, int idx, acr_xfer *x, const acr_op_request *r,
                          const acr_op *op)
{
  size_t len = strlen(r->token) + 24;
  x->lines[0] = malloc(len);
  if (x->lines[0]) {
    snprintf(x->lines[0], len, "Authorization: Bearer %s", r->token);
    x->nlines = x->secret = 1;
  }
  add_line(L, "x-ms-client-request-id", acr_op_request_id(op), x);
  acr_op_each_header(L, idx, add_line, x);
  snprintf(x->method, sizeof x->method, "%s", r->method);
  x->url = strdup(r->url);
}


static const char *transport_name(acr_transport_error te)
{
  switch (te) {
  case ACR_TE_TIMEOUT: return "Timeout";
  case ACR_TE_CONNECT: return "ConnectionFailed";
  case ACR_TE_TLS: return "TlsError";
  case ACR_TE_TOO_LARGE: return "ResponseTooLarge";
  default: return "TransportError";
  }
}

static void push_headers(lua_State *L, const acr_http_response *res)
{
  lua_createtable(L, 0, (int)res->nheaders);
  for (size_t i = 0; i < res->nheaders; i++) {
    lua_pushstring(L, res->headers[i].value);
    lua_setfield(L, -2, res->headers[i].name);
  }
}

/* feed()'s five values for an exchange that ended with rc (0: a status arrived). */
void acr_xfer_push_answer(lua_State *L, const acr_xfer *x, int rc)
{
  if (rc == 0) {
    lua_pushinteger(L, x->res.status);
    push_headers(L, &x->res);
    if (x->res.body.len)
      lua_pushlstring(L, x->res.body.data, x->res.body.len);
    else
      lua_pushnil(L);
    lua_pushnil(L);
    lua_pushnil(L);
  } else {
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushnil(L);
    lua_pushstring(L, transport_name(x->res.transport));
    lua_pushstring(L, x->res.error);
  }
}

/* Hands the answer to a token request to its operation, from x's own buffers. */
void acr_xfer_feed_token(lua_State *L, int opidx, const acr_xfer *x, int rc)
{
  acr_auth_answer a = {0, 0, NULL, 0, NULL, NULL};
  int top = lua_gettop(L);
  if (rc == 0) {
    push_headers(L, &x->res);
    a.status = x->res.status;
    a.hdr = lua_gettop(L);
    a.body = x->res.body.len ? x->res.body.data : NULL;
    a.body_len = x->res.body.len;
  } else {
    a.terr = transport_name(x->res.transport);
    a.tmsg = x->res.error;
  }
  acr_op_feed_auth(L, opidx, &a);
  lua_settop(L, top);
}

/* The log line of x, formatted only for a client that logs; "" otherwise. */
void acr_xfer_format_log(lua_State *L, int cidx, const acr_xfer *x, const char *request_id,
                         long status, char *msg, size_t n)
{
  acr_client_push_field(L, cidx, "logger");
  int logging = lua_isfunction(L, -1);
  lua_pop(L, 1);
  msg[0] = '\0';
  double ms = (acr_now() - x->t0) * 1000;
  if (!logging)
    return;
  if (status)
    snprintf(msg, n, "%s %.400s -> %ld (%.0f ms, request id %s)", x->method,
             x->url ? x->url : "?", status, ms, request_id);
  else   /* no status: say why, in libcurl's words (never the request's) */
    snprintf(msg, n, "%s %.300s -> %s: %.120s (%.0f ms, request id %s)", x->method,
             x->url ? x->url : "?", transport_name(x->res.transport), x->res.error, ms,
             request_id);
}
