/* The blocking driver: libcurl's multi interface, on the caller's thread, no threads
 * of our own. Every operation a client has started is driven by any of its waits, so
 * `begin_*`, `op:poll()` and `op:wait(op:delay())` run many operations at once.
 *
 * Lua side, in the client's uservalue: `inflight[transfer] = op` holds each operation
 * whose request is out (it cannot be collected before its answer is in), and `active`
 * (weak keys) the started operations, which the driver starts requests for when due.
 * C side, the client owns its transfers (c->xfers): whatever happens to the Lua
 * objects, closing or collecting the client frees them. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "client.h"
#include "driver.h"
#include "error.h"
#include "luax.h"
#include "operation.h"
#include "opstate.h"
#include "pacer.h"
#include "pool.h"
#include "retry.h"
#include "xfer.h"

#define MAX_WAIT_MS 1000L   /* a wait is cut into slices: nothing relies on one signal */

typedef acr_xfer xfer;

void acr_driver_free(acr_client *c)
{
  while (c->xfers)
    acr_xfer_free(c, c->xfers);
  acr_pool_free(c->pool);
  c->pool = NULL;
}
/* ---- the client's tables ---- */

static void push_table(lua_State *L, int cidx, const char *name)
{
  acr_client_push_field(L, cidx, name);
}

/* inflight[x] = op (or nil) */
static void set_inflight(lua_State *L, int cidx, xfer *x, int opidx)
{
  push_table(L, cidx, "inflight");
  lua_pushlightuserdata(L, x);
  if (opidx)
    lua_pushvalue(L, opidx);
  else
    lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* An operation without a request out will be due at t: the next wake must look. */
static void note_due(acr_client *c, double t)
{
  if (t < c->due_at)
    c->due_at = t;
}

static void set_active(lua_State *L, int cidx, int opidx)
{
  note_due((acr_client *)lua_touserdata(L, cidx), acr_op_due(acr_op_check(L, opidx)));
  push_table(L, cidx, "active");
  lua_pushvalue(L, opidx);
  lua_pushboolean(L, 1);
  lua_rawset(L, -3);
  lua_pop(L, 1);
}

/* ---- sending and taking in ---- */

/* Hands the answer of x to its operation and frees x. x is freed before any Lua code
 * runs (the logger may close the client, which frees what is still out). */
static void complete(lua_State *L, int cidx, acr_client *c, xfer *x, int rc)
{
  int base = lua_gettop(L);
  char msg[600] = "";
  long status = rc == 0 ? x->res.status : 0;
  push_table(L, cidx, "inflight");
  lua_pushlightuserdata(L, x);
  lua_rawget(L, -2);
  int opidx = lua_gettop(L);
  acr_op *op = luaL_testudata(L, opidx, ACR_OPERATION_MT);
  set_inflight(L, cidx, x, 0);
  if (x->auth)
    c->token_fetches--;
  int auth = x->auth;
  if (op) {
    acr_op_set_transfer(op, NULL, 0);
    acr_xfer_format_log(L, cidx, x, acr_op_request_id(op), status, msg, sizeof msg);
    if (auth)
      acr_xfer_feed_token(L, opidx, x, rc);   /* read from C memory: the token is no Lua string */
    else
      acr_xfer_push_answer(L, x, rc);
  }
  acr_xfer_free(c, x);
  /* fed before the logger runs: a logger that drives the client must not find the
   * operation due with no request out, and send it again */
  if (op && !auth)
    acr_op_feed(L, opidx, opidx + 1);
  char note[96] = "";
  if (op)
    acr_op_take_note(op, note, sizeof note);   /* the wait this answer led to */
  if (op && acr_op_finished(op))
    c->ended++;
  else if (op && !acr_op_transfer(op))
    note_due(c, acr_op_due(op));
  if (auth)
    c->due_dirty = 1;   /* the operations held for this token may go now */
  if (msg[0])
    acr_client_log(L, cidx, status >= 400 || status == 0 ? "warn" : "debug", msg);
  if (note[0] && msg[0])
    acr_client_log(L, cidx, "info", note);
  lua_settop(L, base);
}

/* Whether an operation without a request out may be counted toward the next wake:
 * one held back only by the token request out is woken by that answer instead (so it
 * is not counted: no spinning). */
static int counts_for_wake(const acr_client *c, const acr_op *op, double now)
{
  return !acr_op_finished(op) && !acr_op_transfer(op) &&
         !(acr_op_due(op) <= now && c->token_fetches);
}

/* Sends op's next request. The token request of a client is single-flight: while one
 * is out, operations wait for its token rather than each fetching their own. */
static void start(lua_State *L, int cidx, int opidx)
{
  acr_client *c = (acr_client *)lua_touserdata(L, cidx);
  acr_op *op = acr_op_check(L, opidx);
  if (acr_op_finished(op) || acr_op_transfer(op) || c->token_fetches > 0)
    return;
  if (c->closed || !c->pool) {
    acr_op_fail(L, opidx, "ClientClosed", "the client was closed before the operation ended");
    c->ended++;
    return;
  }
  double now = acr_now();
  double wait = acr_pacer_wait(&c->pacer, acr_op_method(op), acr_op_paced(op), now);
  if (wait > 0) {
    acr_op_defer(op, now + wait);   /* its bucket should have a token by then */
    note_due(c, now + wait);
    return;
  }
  char err[256] = "out of memory";
  xfer *x = acr_xfer_new(c);
  if (x)
    x->http = acr_pool_get(c->pool, err, sizeof err);
  if (!x || !x->http) {
    if (x)
      acr_xfer_free(c, x);
    acr_op_fail(L, opidx, "TransportError", err);
    c->ended++;
    return;
  }
  acr_op_request r;
  acr_next_kind k = acr_op_next(L, opidx, &r, &x->req);
  if (k == ACR_NEXT_NONE) {
    acr_xfer_free(c, x);
    if (acr_op_finished(op))
      c->ended++;   /* getting a token failed: client:drive() counts it */
    else if (counts_for_wake(c, op, acr_now()))
      note_due(c, acr_op_due(op));   /* held back by the credential (a refresh back-off) */
    return;
  }
  double timeout = r.timeout;
  const char *url = r.url, *body = r.body;
  size_t body_len = r.body_len;
  if (k == ACR_NEXT_AUTH) {
    x->auth = 1;
    acr_xfer_auth_request(L, x, &timeout);
    url = x->url;
    body = x->req.body.data;
    body_len = x->req.body.len;
  } else {
    acr_xfer_arm_request(L, opidx, x, &r, op);
  }
  x->lines[x->nlines] = NULL;
  x->t0 = acr_now();
  acr_http_set_user(x->http, x);
  /* A request retry.c would not repeat after a connection failure must not be
   * repeated by libcurl either (see acr_http_fresh_connect). */
  acr_http_fresh_connect(x->http, !acr_retry_transport(x->method, r.idempotent));
  int rc = acr_http_begin(x->http, x->method, url ? url : "", (const char *const *)x->lines, body,
                          body_len, (long)(timeout * 1000), &x->res);
  if (x->auth)
    c->token_fetches++;
  acr_op_set_transfer(op, x, x->t0 + timeout);
  set_inflight(L, cidx, x, opidx);
  if (rc != 0 || acr_pool_start(c->pool, x->http) != 0) {
    if (rc == 0)
      acr_http_end(x->http, 2 /* CURLE_FAILED_INIT */);
    complete(L, cidx, c, x, -1);
  }
}

/* Takes in every finished transfer. */
static void harvest(lua_State *L, int cidx, acr_client *c)
{
  int code;
  acr_http *h;
  while (c->pool && (h = acr_pool_done(c->pool, &code))) {
    xfer *x = acr_http_user(h);
    if (!x)
      continue;
    int rc = acr_http_end(h, code);
    complete(L, cidx, c, x, rc);
  }
}

/* Starts the due requests of every started operation; returns the soonest time one
 * that is not due yet will be (HUGE_VAL: none). Finished ones leave the set.
 * This runs on every wake of a drive, so it walks the set once and copies only the
 * due operations: starting one may run Lua (the logger, on a request that fails at
 * once) that starts others, and a table must not gain keys while lua_next walks it.
 * A list, not the C stack: there may be more of them than a C function may push. */
static double start_due(lua_State *L, int cidx)
{
  double soonest = HUGE_VAL, now = acr_now();
  acr_client *c = (acr_client *)lua_touserdata(L, cidx);
  /* nothing can be due before due_at unless an event said otherwise; a walk a second
   * all the same, so that no wake relies on one notice */
  if (!c->due_dirty && now < c->due_at && now - c->due_walked < 1.0)
    return c->due_at;
  c->due_dirty = 0;
  c->due_at = HUGE_VAL;   /* events during the walk note theirs into it */
  c->due_walked = now;
  push_table(L, cidx, "active");
  int t = lua_gettop(L), n = 0;
  lua_pushnil(L);   /* the list of due ones, made when the first is found */
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    /* only the driver puts operations in this table: no metatable check per visit */
    const acr_op *op = (const acr_op *)lua_touserdata(L, -1);
    if (acr_op_finished(op)) {
      lua_pushvalue(L, -1);
      lua_pushnil(L);
      lua_rawset(L, t);   /* clearing a field during traversal is allowed */
    } else if (!acr_op_transfer(op) && acr_op_due(op) <= now && !c->token_fetches) {
      if (n == 0) {
        lua_newtable(L);
        lua_replace(L, t + 1);
      }
      lua_pushvalue(L, -1);
      lua_rawseti(L, t + 1, ++n);
    } else if (counts_for_wake(c, op, now) && acr_op_due(op) < soonest) {
      soonest = acr_op_due(op);
    }
  }
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, t + 1, i);
    acr_op *op = acr_op_check(L, -1);
    if (!acr_op_finished(op) && !acr_op_transfer(op))
      start(L, cidx, lua_gettop(L));
    /* held back by start: by pacing (a new due time), or by the token request out */
    if (counts_for_wake(c, op, now) && acr_op_due(op) < soonest)
      soonest = acr_op_due(op);
    lua_settop(L, t + 1);
  }
  lua_settop(L, t - 1);
  note_due(c, soonest);
  return c->due_at;
}

/* What a drive waits for. */
enum { UNTIL_ONCE, UNTIL_DONE, UNTIL_ANSWERED, UNTIL_ANY };

static int reached(const acr_op *op, int until)
{
  return acr_op_finished(op) || (until == UNTIL_ANSWERED && acr_op_answered(op));
}

/* Whether an operation ended since `ended` was read, or none is left to wait for
 * (the set may still hold ended ones: start_due clears them only when it walks). */
static int any_ended(lua_State *L, int cidx, const acr_client *c, unsigned long ended)
{
  /* requests out are the pool's running transfers (one a raise left half made, on
   * the client's list until it closes, is not out) */
  if (c->ended != ended || (c->pool && acr_pool_running(c->pool) > 0))
    return c->ended != ended;
  push_table(L, cidx, "active");
  int t = lua_gettop(L), left = 0;
  lua_pushnil(L);
  while (!left && lua_next(L, t)) {
    lua_pop(L, 1);
    left = !acr_op_finished((const acr_op *)lua_touserdata(L, -1));
  }
  lua_settop(L, t - 1);
  return !left;
}

/* Drives the client's operations until the one at opidx has reached `until` (with
 * UNTIL_ONCE: one round, no waiting), or until deadline (monotonic; HUGE_VAL: none). */
static void drive(lua_State *L, int cidx, int opidx, int until, double deadline)
{
  acr_client *c = (acr_client *)lua_touserdata(L, cidx);
  acr_op *op = until != UNTIL_ONCE && until != UNTIL_ANY ? acr_op_check(L, opidx) : NULL;
  unsigned long ended = c->ended;
  for (;;) {
    if (op && reached(op, until))
      return;   /* before starting anything: reaching it must not send more */
    double soonest = start_due(L, cidx);
    if (c->pool)
      acr_pool_run(c->pool, 0);
    harvest(L, cidx, c);
    double now = acr_now();
    if (until == UNTIL_ONCE || (op && reached(op, until)) || now >= deadline || !c->pool ||
        (until == UNTIL_ANY && any_ended(L, cidx, c, ended)))
      return;
    /* answers just taken in may have made operations due (a retry at once, the final
     * GET, the ones held for the token): no sleeping past them */
    if (c->due_dirty)
      soonest = now;
    else if (c->due_at < soonest)
      soonest = c->due_at;
    double next = soonest < deadline ? soonest : deadline;
    long ms = next == HUGE_VAL ? MAX_WAIT_MS : (long)ceil((next - now) * 1000);
    if (op && acr_op_due(op) <= now && !acr_op_transfer(op) && c->token_fetches == 0 &&
        !acr_op_finished(op))
      ms = 0;   /* due and startable: start it right away */
    acr_pool_run(c->pool, ms < 0 ? 0 : ms > MAX_WAIT_MS ? MAX_WAIT_MS : ms);
    harvest(L, cidx, c);
  }
}

/* Pushes the client of the operation at idx; returns its index. */
static int push_client(lua_State *L, int idx)
{
  acr_uv_get(L, idx, "client");
  return lua_gettop(L);
}

static void adopt(lua_State *L, int cidx, int opidx)
{
  if (!acr_op_finished(acr_op_check(L, opidx)))
    set_active(L, cidx, opidx);
}

/* begin_*: sends the operation's first request and returns without waiting for it. */
void acr_op_start(lua_State *L, int idx)
{
  idx = lua_absindex(L, idx);
  int cidx = push_client(L, idx);
  adopt(L, cidx, idx);
  start(L, cidx, idx);
  drive(L, cidx, idx, UNTIL_ONCE, 0);
  lua_settop(L, cidx - 1);
}

int acr_op_wait(lua_State *L, int idx)
{
  idx = lua_absindex(L, idx);
  int cidx = push_client(L, idx);
  adopt(L, cidx, idx);
  drive(L, cidx, idx, UNTIL_DONE, HUGE_VAL);
  lua_settop(L, cidx - 1);
  return acr_op_push_result(L, idx);
}

/* max_seconds at arg: a number of seconds, or -1 when absent. */
static double opt_max_seconds(lua_State *L, int arg)
{
  if (lua_isnoneornil(L, arg))
    return -1;
  if (lua_type(L, arg) != LUA_TNUMBER)
    acr_typeerror(L, arg, "number of seconds");
  double max = lua_tonumber(L, arg);
  if (!(max < 1e9))
    acr_argerror(L, arg, "a number of seconds expected, not NaN or more than 1e9");
  return max;
}

/* syntax: value, err = op:wait([max_seconds]) */
static int op_wait(lua_State *L)
{
  acr_op *op = acr_op_check(L, 1);
  double max = opt_max_seconds(L, 2);
  if (max < 0)
    return acr_op_wait(L, 1);
  int cidx = push_client(L, 1);
  adopt(L, cidx, 1);
  drive(L, cidx, 1, UNTIL_DONE, acr_now() + max);
  lua_settop(L, 1);
  if (!acr_op_finished(op)) {
    acr_error_push(L, "Timeout", "the operation is still running", 0);
    return acr_error_return(L);
  }
  return acr_op_push_result(L, 1);
}

/* syntax: value, err = op:result()  -- waits (blocking) when not done yet */
static int op_result(lua_State *L)
{
  return acr_op_wait(L, 1);
}

/* syntax: status = op:poll()  -- starts the request that is due, takes in the answers
 * that have come for any of the client's operations; never waits */
static int op_poll(lua_State *L)
{
  acr_op *op = acr_op_check(L, 1);
  int cidx = push_client(L, 1);
  adopt(L, cidx, 1);
  if (acr_op_due(op) <= acr_now())
    start(L, cidx, 1);
  drive(L, cidx, 1, UNTIL_ONCE, 0);
  lua_settop(L, 1);
  lua_pushstring(L, acr_op_status(op));
  return 1;
}

/* syntax: status, err = op:wait_accepted([max_seconds])  -- drives until the service has
 * answered the operation's first request (a begin_* returns once it is sent) */
static int op_wait_accepted(lua_State *L)
{
  acr_op *op = acr_op_check(L, 1);
  double max = opt_max_seconds(L, 2);
  int cidx = push_client(L, 1);
  adopt(L, cidx, 1);
  drive(L, cidx, 1, UNTIL_ANSWERED, max < 0 ? HUGE_VAL : acr_now() + max);
  lua_settop(L, 1);
  if (acr_op_finished(op) || acr_op_answered(op)) {
    lua_pushstring(L, acr_op_status(op));
    return 1;
  }
  acr_error_push(L, "Timeout", "the service has not answered the operation's first request", 0);
  return acr_error_return(L);
}

/* syntax: n = client:drive([max_seconds])  -- drives the client's started operations
 * until one of them ends (or none is left, or max_seconds pass); returns how many ended */
int acr_client_drive(lua_State *L)
{
  acr_client *c = acr_check_client(L, 1);
  double max = opt_max_seconds(L, 2);
  unsigned long ended = c->ended;
  drive(L, 1, 0, UNTIL_ANY, max < 0 ? HUGE_VAL : acr_now() + max);
  lua_pushinteger(L, (lua_Integer)(c->ended - ended));
  return 1;
}

/* client:close(): every operation started and not ended ends with ClientClosed. */
void acr_driver_close(lua_State *L, int cidx)
{
  acr_client *c = (acr_client *)lua_touserdata(L, cidx);
  push_table(L, cidx, "inflight");
  int t = lua_gettop(L);
  while (c->xfers) {
    xfer *x = c->xfers;
    lua_pushlightuserdata(L, x);
    lua_rawget(L, t);
    acr_op *op = luaL_testudata(L, -1, ACR_OPERATION_MT);
    if (op) {
      acr_op_set_transfer(op, NULL, 0);
      acr_op_fail(L, lua_gettop(L), "ClientClosed",
                  "the client was closed before the operation ended");
    }
    lua_pop(L, 1);
    set_inflight(L, cidx, x, 0);
    acr_xfer_free(c, x);
  }
  c->token_fetches = 0;
  lua_pop(L, 1);
  /* and every started one waiting for its next request */
  push_table(L, cidx, "active");
  t = lua_gettop(L);
  lua_pushnil(L);
  while (lua_next(L, t)) {
    lua_pop(L, 1);
    acr_op_fail(L, lua_gettop(L), "ClientClosed", "the client was closed before the operation ended");
  }
  lua_pop(L, 1);
  acr_driver_free(c);
}

void acr_driver_methods(lua_State *L)
{
  static const luaL_Reg methods[] = {
    {"result", op_result}, {"wait", op_wait}, {"poll", op_poll},
    {"wait_accepted", op_wait_accepted}, {NULL, NULL}
  };
  acr_setfuncs(L, methods, "");
}
