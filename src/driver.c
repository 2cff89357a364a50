/* The blocking driver: libcurl's multi interface, on the caller's thread, no threads
 * of our own. Every operation a client has started is driven by any of its waits, so
 * `begin_*`, `op:poll()` and `op:wait(op:delay())` run many operations at once. This
 * file sends the requests of a client's operations and takes their answers in (start
 * what is due, harvest what finished); drive.c waits, over one client or many.
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

/* s: while more requests of a kind are held back than its bucket has tokens for, the
 * wake for them comes at most this often, and those that go then go together, as many
 * as the bucket should have tokens for. A bucket that refills 10 a second would
 * otherwise wake the client 10 times a second for one request each, and a wake of its
 * own, with cold caches, costs more than the request it sends. The rate is the
 * bucket's either way, and one request held alone waits for its token only. */
#define PACED_SLOT 0.25

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

/* Whether the pacer holds back op's next request, due now. Such an operation keeps
 * its due time: the wake for it is its kind's (c->held, acr_driver_next_due), when the
 * bucket should have a token by the pacer's estimate at the time of the wait (an answer
 * in between may move it), rather than a time fixed when it was held back. */
static int paced_out(const acr_client *c, const acr_op *op, double now)
{
  return !acr_op_paced(op) && acr_pacer_wait(&c->pacer, acr_op_method(op), 0, now) > 0;
}

static void hold(acr_client *c, const acr_op *op)
{
  int k = acr_pacer_kind(acr_op_method(op));
  if (c->held[k] == 0)
    c->held[k] = 1;   /* the next walk counts them */
}

/* When the next wake for the operations held back of kind k is: when the bucket
 * should have tokens for all of them, or a slot after the last of them went, but not
 * before it has a token for one. The slot is no longer than the bucket takes to fill:
 * a small bucket cannot hold a slot's worth. */
static double held_due(const acr_client *c, int k, double now)
{
  double one = now + acr_pacer_wait_more(&c->pacer, k, 0, now);
  double all = now + acr_pacer_wait_more(&c->pacer, k, c->held[k] - 1, now);
  double slot = acr_pacer_fill_time(&c->pacer, k);
  double grouped = c->held_let[k] + (slot < PACED_SLOT ? slot : PACED_SLOT);
  double t = all < grouped ? all : grouped;
  return t > one ? t : one;
}

double acr_driver_next_due(const acr_client *c, double now)
{
  double t = c->due_at;
  for (int k = 0; k < ACR_KINDS; k++) {
    if (c->held[k] > 0) {
      double h = held_due(c, k, now);
      if (h < t)
        t = h;
    }
  }
  return t;
}

int acr_driver_startable(const acr_client *c, const acr_op *op, double now)
{
  if (acr_op_due(op) > now || acr_op_transfer(op) || c->token_fetches > 0 ||
      acr_op_finished(op) || paced_out(c, op, now))
    return 0;
  /* one of a group held back goes with the group: the walk that would start it waits
   * for the group's wake, and a wait of 0 until then would spin */
  int k = acr_pacer_kind(acr_op_method(op));
  return acr_op_paced(op) || c->held[k] == 0 || held_due(c, k, now) <= now;
}

/* Makes the next wakes look at op, which has no request out, when it is due. */
static void watch(acr_client *c, const acr_op *op, double now)
{
  if (acr_op_finished(op) || acr_op_transfer(op))
    return;
  if (acr_op_due(op) <= now && paced_out(c, op, now))
    hold(c, op);
  else
    note_due(c, acr_op_due(op));
}

static void set_active(lua_State *L, int cidx, int opidx)
{
  watch((acr_client *)lua_touserdata(L, cidx), acr_op_check(L, opidx), acr_now());
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
  else if (op)
    watch(c, op, acr_now());
  if (auth)
    c->due_dirty = 1;   /* the operations held for this token may go now */
  if (msg[0])
    acr_client_log(L, cidx, status >= 400 || status == 0 ? "warn" : "debug", msg);
  if (note[0] && msg[0])
    acr_client_log(L, cidx, "info", note);
  lua_settop(L, base);
}

/* Whether an operation without a request out may be counted toward the next wake by
 * its due time: one held back only by the token request out is woken by that answer
 * instead (so it is not counted: no spinning), one held back by the pacer by its
 * kind's bucket (acr_driver_next_due). */
static int counts_for_wake(const acr_client *c, const acr_op *op, double now)
{
  return !acr_op_finished(op) && !acr_op_transfer(op) &&
         !(acr_op_due(op) <= now && (c->token_fetches || paced_out(c, op, now)));
}

/* Sends op's next request. The token request of a client is single-flight: while one
 * is out, operations wait for its token rather than each fetching their own. */
void acr_driver_start(lua_State *L, int cidx, int opidx)
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
  if (wait > 0 && !acr_op_paced(op)) {
    hold(c, op);   /* see paced_out */
    return;
  }
  if (wait > 0) {
    /* a request the pacer counts already (handed out before, never fed) */
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
void acr_driver_harvest(lua_State *L, int cidx, acr_client *c)
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

/* Starts the due requests of every started operation that the pacer lets go.
 * Finished ones leave the set.
 * This runs on every wake of a drive, so it walks the set once and copies only the
 * due operations: starting one may run Lua (the logger, on a request that fails at
 * once) that starts others, and a table must not gain keys while lua_next walks it.
 * A list, not the C stack: there may be more of them than a C function may push.
 * Of the due ones the list takes only those the pacer would let go were the ones
 * before them sent: of sixty held back by a low bucket, two may go, and the others
 * would only be looked at in vain. The walk counts them (c->held). */
void acr_driver_start_due(lua_State *L, int cidx)
{
  double soonest = HUGE_VAL, now = acr_now();
  acr_client *c = (acr_client *)lua_touserdata(L, cidx);
  /* nothing can be due before the next due time unless an event said otherwise; a
   * walk a second all the same, so that no wake relies on one notice */
  if (!c->due_dirty && now < acr_driver_next_due(c, now) && now - c->due_walked < 1.0)
    return;
  c->due_dirty = 0;
  c->due_at = HUGE_VAL;   /* events during the walk note theirs into it */
  int held[ACR_KINDS];   /* and the walk counts the held ones again */
  memcpy(held, c->held, sizeof held);
  memset(c->held, 0, sizeof c->held);
  c->due_walked = now;
  int listed[ACR_KINDS] = {0};
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
      if (!acr_op_paced(op)) {
        int k = acr_pacer_kind(acr_op_method(op));
        if (acr_pacer_wait_more(&c->pacer, k, listed[k], now) > 0) {
          c->held[k]++;
          continue;
        }
        listed[k]++;
      }
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
    if (!acr_op_finished(op) && !acr_op_transfer(op)) {
      int k = acr_pacer_kind(acr_op_method(op));
      acr_driver_start(L, cidx, lua_gettop(L));
      if (held[k] > 0 && acr_op_transfer(op))
        c->held_let[k] = now;   /* one of a kind held back went */
    }
    /* held back by start: by the pacer after all (counted in c->held), or by the
     * token request out */
    if (counts_for_wake(c, op, now) && acr_op_due(op) < soonest)
      soonest = acr_op_due(op);
    lua_settop(L, t + 1);
  }
  lua_settop(L, t - 1);
  note_due(c, soonest);
}

/* Adds the operation at opidx to the client's started ones, unless it has ended. */
void acr_driver_adopt(lua_State *L, int cidx, int opidx)
{
  if (!acr_op_finished(acr_op_check(L, opidx)))
    set_active(L, cidx, opidx);
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
