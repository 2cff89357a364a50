/* acr.Operation's methods and its interface to drivers (opstate.h): what to send
 * next (with the token, or the credential's token request), the answer handed back,
 * the result, and where the operation stands. The state machine is operation.c. */
#include <stdio.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include "auth.h"
#include "client.h"
#include "driver.h"
#include "error.h"
#include "luax.h"
#include "op_private.h"
#include "opstate.h"

/* ---- the request to send next ---- */


static int sends_body(const acr_op *op)
{
  return op->phase == PH_INITIAL && op->body_len > 0;
}

typedef enum { NEXT_ARM, NEXT_AUTH, NEXT_NONE, NEXT_WAIT } next_kind;

/* Decides what goes out next: the ARM request with *token, or (NEXT_AUTH) the
 * credential's token request, in *req (the caller frees it); NEXT_NONE when getting a
 * token failed the operation; NEXT_WAIT when nothing may go before op:delay(). The token stays in the credential's memory, never in a
 * Lua string. */
static next_kind prepare_next(lua_State *L, int idx, acr_op *op, const char **token,
                              acr_auth_request *req)
{
  op->awaiting_auth = 0;   /* a token request handed out before and not fed is dropped */
  if (op->client->closed) {
    acr_opi_fail_with(L, idx, op, "ClientClosed", "the client was closed before the operation ended");
    return NEXT_NONE;
  }
  int cred = acr_opi_push_credential(L, idx);
  acr_token_target t = acr_opi_token_target(op);
  for (;;) {
    const char *tok = op->stale_ok || op->just_fetched
                      ? acr_credential_valid_token(L, cred, t.scope)
                      : acr_credential_token(L, cred, t.scope);
    op->just_fetched = 0;
    if (tok) {
      op->token_gen = acr_credential_generation(L, cred);
      lua_pop(L, 1);
      *token = tok;
      if (!op->paced)
        acr_pacer_sent(&op->client->pacer, acr_opi_current_method(op), acr_now());
      op->paced = 1;
      op->fetches = 0;
      return NEXT_ARM;
    }
    op->stale_ok = 0;
    /* the client's token requests are held (another operation's back-off): wait too */
    if (op->client->token_hold_until > acr_now() && op->not_before < op->client->token_hold_until) {
      lua_pop(L, 1);
      op->not_before = op->client->token_hold_until;
      return NEXT_WAIT;
    }
    /* Every way round this loop asks the credential for a token; a credential whose
     * tokens are never usable must end the call, not spin. */
    if (++op->fetches > ACR_MAX_FETCHES) {
      lua_pop(L, 1);
      acr_error_push(L, "AuthenticationFailed",
                     "no usable token after " ACR_STR(ACR_MAX_FETCHES) " token requests in a row", 0);
      acr_opi_fail_token(L, idx, op);
      return NEXT_NONE;
    }
    acr_auth_step st = acr_credential_request(L, cred, &t, req);
    if (st == ACR_AUTH_READY) {
      op->just_fetched = 1;   /* used while valid, even inside its refresh window */
      continue;
    }
    lua_remove(L, cred);
    if (st == ACR_AUTH_REQUEST) {
      op->awaiting_auth = 1;
      return NEXT_AUTH;
    }
    acr_opi_fail_token(L, idx, op);
    return NEXT_NONE;
  }
}

/* Calls fn(name, value) for each extra header given to client:request(). */
static void each_extra_header(lua_State *L, int idx, acr_header_fn fn, void *ud)
{
  acr_uv_get(L, idx, "headers");
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      fn(L, lua_tostring(L, -2), lua_tostring(L, -1), ud);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

static void set_field(lua_State *L, const char *name, const char *value, void *ud)
{
  (void)ud;
  lua_pushstring(L, value);
  lua_setfield(L, -5, name);  /* the target sits below the table, key and value traversed */
}

/* syntax: req = op:next_request()  -- {method=, url=, headers=, body=} or nil when done */
static int op_next_request(lua_State *L)
{
  acr_op *op = acr_opi_check_op(L, 1);
  if (op->phase == PH_DONE) {
    lua_pushnil(L);
    return 1;
  }
  const char *tok = NULL;
  acr_auth_request req;
  acr_auth_request_init(&req);
  next_kind k = prepare_next(L, 1, op, &tok, &req);
  if (k == NEXT_AUTH) {
    acr_auth_request_push(L, &req);   /* another driver needs it as Lua strings */
    acr_auth_request_free(&req);
    return 1;
  }
  if (k == NEXT_NONE || k == NEXT_WAIT) {
    lua_pushnil(L);   /* ended (op:done()), or nothing before op:delay() */
    return 1;
  }
  lua_createtable(L, 0, 4);
  lua_pushstring(L, acr_opi_current_method(op));
  lua_setfield(L, -2, "method");
  lua_pushstring(L, op->target);
  lua_setfield(L, -2, "url");
  lua_createtable(L, 0, 6);
  each_extra_header(L, 1, set_field, NULL);
  if (tok) {
    lua_pushfstring(L, "Bearer %s", tok);
    lua_setfield(L, -2, "Authorization");
  }
  lua_pushstring(L, op->request_id);
  lua_setfield(L, -2, "x-ms-client-request-id");
  lua_pushstring(L, op->client->user_agent);
  lua_setfield(L, -2, "User-Agent");
  lua_pushliteral(L, "application/json");
  lua_setfield(L, -2, "Accept");
  if (sends_body(op)) {
    lua_pushliteral(L, "application/json");
    lua_setfield(L, -2, "Content-Type");
  }
  lua_setfield(L, -2, "headers");
  if (sends_body(op)) {
    lua_pushlstring(L, op->body, op->body_len);
    lua_setfield(L, -2, "body");
  }
  lua_pushnumber(L, op->timeout);
  lua_setfield(L, -2, "timeout");
  return 1;
}

/* syntax: seconds = op:delay()  -- until the next request is due; with one in flight
 * (driver.c), until it would time out: waiting that long never misses its answer */
static int op_delay(lua_State *L)
{
  acr_op *op = acr_opi_check_op(L, 1);
  double now = acr_now(), t = op->xfer ? op->xfer_deadline : op->not_before;
  if (!op->xfer && op->phase != PH_DONE) {
    /* held back until its bucket should have a token (pacer.c) */
    double p = now + acr_pacer_wait(&op->client->pacer, acr_opi_current_method(op), op->paced, now);
    if (p > t)
      t = p;
    /* or until the client's token request, out now, is answered (driver.c) */
    if (op->client->token_fetches > 0 && t < now + op->timeout)
      t = now + op->timeout;
  }
  double d = op->phase == PH_DONE ? 0 : t - now;
  lua_pushnumber(L, d > 0 ? d : 0);
  return 1;
}

/* syntax: op:acr_opi_feed(status, headers, body [, transport_error [, message]]) */
static int op_feed(lua_State *L)
{
  acr_op *op = acr_opi_check_op(L, 1);
  lua_settop(L, 6);
  if (lua_isnoneornil(L, 5)) {
    /* a status as text ("200", from a driver that reads the status line) is taken as
     * Lua's own integer checks take it */
    if (lua_type(L, 2) == LUA_TSTRING && lua_isnumber(L, 2)) {
      lua_pushnumber(L, lua_tonumber(L, 2));
      lua_replace(L, 2);
    }
    /* a whole number no status can be (2^63 - 1 from a status line) is an answer the
     * operation refuses, not the driver's mistake */
    double v = lua_type(L, 2) == LUA_TNUMBER ? lua_tonumber(L, 2) : 0;
    if (v == floor(v) && (v > 999 || v < -1)) {
      lua_pushinteger(L, -1);
      lua_replace(L, 2);
    }
    acr_check_integer(L, 2);
  }
  if (!lua_isnil(L, 3))
    acr_check_table(L, 3);
  if (!lua_isnil(L, 4) && lua_type(L, 4) != LUA_TSTRING)
    acr_typeerror(L, 4, "string");
  acr_opi_feed(L, 1, op, 2);
  lua_pushstring(L, op->status);
  return 1;
}

static int push_result(lua_State *L, int idx, acr_op *op)
{
  acr_uv_get(L, idx, "error");
  if (!lua_isnil(L, -1))
    return acr_error_return(L);
  lua_pop(L, 1);
  if (op->shape == ACR_SHAPE_DELETED) {
    lua_pushboolean(L, 1);
    return 1;
  }
  acr_uv_get(L, idx, "result");
  if (op->shape == ACR_SHAPE_RAW)
    return 1;
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    acr_error_push(L, "InvalidResponse", "the service returned no resource document", 0);
    return acr_error_return(L);
  }
  if (!op->wrap)
    return 1;   /* the document itself: a page, which pager.c checks */
  int doc = lua_gettop(L);
  acr_uv_get(L, idx, "client");
  op->wrap(L, lua_gettop(L), op->shape, doc);
  return 1;
}

/* ---- for drivers (opstate.h) ---- */

acr_op *acr_op_check(lua_State *L, int idx)
{
  return acr_opi_check_op(L, idx);
}

acr_client *acr_op_client(const acr_op *op)
{
  return op->client;
}

int acr_op_finished(const acr_op *op)
{
  return op->phase == PH_DONE;
}

int acr_op_answered(const acr_op *op)
{
  return op->answered;
}

double acr_op_due(const acr_op *op)
{
  return op->not_before;
}

const char *acr_op_request_id(const acr_op *op)
{
  return op->request_id;
}

void acr_opi_note_retry(acr_op *op, int n, double wait, long status, const char *what)
{
  char why[64];
  if (status > 0)
    snprintf(why, sizeof why, "HTTP %ld", status);
  else
    snprintf(why, sizeof why, "%s", what ? what : "transport");
  snprintf(op->note, sizeof op->note, "retry %d/%d in %.3g s (%s)", n,
           op->client->retry.max_retries, wait, why);
}

void acr_opi_note_throttled(acr_op *op, double wait)
{
  snprintf(op->note, sizeof op->note,
           "throttled (HTTP 429): waiting %.3g s as Retry-After asks, not counted as a retry", wait);
}

void acr_op_take_note(acr_op *op, char *out, size_t n)
{
  snprintf(out, n, "%s", op->note);
  op->note[0] = '\0';
}

int acr_op_paced(const acr_op *op)
{
  return op->paced;
}

const char *acr_op_method(const acr_op *op)
{
  return acr_opi_current_method(op);
}

void acr_op_defer(acr_op *op, double t)
{
  if (t > op->not_before)
    op->not_before = t;
}

const char *acr_op_status(const acr_op *op)
{
  return op->status;
}

void *acr_op_transfer(const acr_op *op)
{
  return op->xfer;
}

void acr_op_set_transfer(acr_op *op, void *xfer, double deadline)
{
  op->xfer = xfer;
  op->xfer_deadline = deadline;
}

acr_next_kind acr_op_next(lua_State *L, int idx, acr_op_request *r, acr_auth_request *auth)
{
  acr_op *op = acr_opi_check_op(L, idx);
  memset(r, 0, sizeof *r);
  if (op->phase == PH_DONE)
    return ACR_NEXT_NONE;
  next_kind k = prepare_next(L, idx, op, &r->token, auth);
  if (k == NEXT_NONE || k == NEXT_WAIT)
    return ACR_NEXT_NONE;   /* the driver sees the operation ended, or when it is due */
  r->idempotent = op->idempotent;
  r->timeout = op->timeout;
  if (k == NEXT_AUTH)
    return ACR_NEXT_AUTH;
  r->method = acr_opi_current_method(op);
  r->url = op->target;
  r->body = sends_body(op) ? op->body : NULL;
  r->body_len = sends_body(op) ? op->body_len : 0;
  return ACR_NEXT_ARM;
}

void acr_op_each_header(lua_State *L, int idx, acr_header_fn fn, void *ud)
{
  each_extra_header(L, idx, fn, ud);
}

void acr_op_feed(lua_State *L, int idx, int a)
{
  acr_opi_feed(L, idx, acr_opi_check_op(L, idx), a);
}

void acr_op_feed_auth(lua_State *L, int idx, const acr_auth_answer *a)
{
  acr_op *op = acr_opi_check_op(L, idx);
  int top = lua_gettop(L);
  if (op->phase == PH_DONE)
    return;
  if (op->client->closed)
    acr_opi_fail_with(L, idx, op, "ClientClosed", "the client was closed before the operation ended");
  else
    acr_opi_feed_auth(L, idx, op, a);
  lua_settop(L, top);
}

void acr_op_fail(lua_State *L, int idx, const char *code, const char *msg)
{
  acr_op *op = acr_opi_check_op(L, idx);
  if (op->phase != PH_DONE)
    acr_opi_fail_with(L, idx, op, code, msg);
}

int acr_op_push_result(lua_State *L, int idx)
{
  return push_result(L, idx, acr_opi_check_op(L, idx));
}

/* syntax: client = op:client()  -- the acr.Client the operation belongs to */
static int op_client(lua_State *L)
{
  acr_opi_check_op(L, 1);
  acr_uv_get(L, 1, "client");
  return 1;
}

/* syntax: bool = op:done() */
static int op_done(lua_State *L)
{
  lua_pushboolean(L, acr_opi_check_op(L, 1)->phase == PH_DONE);
  return 1;
}

/* syntax: status = op:status() -- NotStarted, InProgress (or the service's word), Succeeded, Failed, Canceled */
static int op_status(lua_State *L)
{
  lua_pushstring(L, acr_opi_check_op(L, 1)->status);
  return 1;
}

/* syntax: id = op:request_id() -- the x-ms-client-request-id of every request of this operation */
static int op_request_id(lua_State *L)
{
  lua_pushstring(L, acr_opi_check_op(L, 1)->request_id);
  return 1;
}

static int op_tostring(lua_State *L)
{
  acr_op *op = acr_opi_check_op(L, 1);
  lua_pushfstring(L, "acr.Operation(%s %s, %s)", op->method, op->url ? op->url : "?", op->status);
  return 1;
}

int acr_operation_open(lua_State *L)
{
  static const luaL_Reg methods[] = {
    {"next_request", op_next_request}, {"delay", op_delay}, {"feed", op_feed},
    {"done", op_done}, {"client", op_client},
    {"status", op_status}, {"request_id", op_request_id}, {NULL, NULL}
  };
  acr_newmetatable(L, ACR_OPERATION_MT);   /* no __gc: see keep_string */
  lua_pushcfunction(L, op_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  acr_setfuncs(L, methods, "");
  acr_driver_methods(L);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  return 0;
}
