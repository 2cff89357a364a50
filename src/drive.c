/* The waits of the blocking driver: drives the operations of one client (an
 * operation's wait, client:drive) or of many (acr.drive) until what the caller waits
 * for has happened, sleeping in between until a socket, a libcurl timer or a due
 * operation has something to do. driver.c does the sending and the taking in. */
#include <math.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>

#include "client.h"
#include "driver.h"
#include "error.h"
#include "luax.h"
#include "operation.h"
#include "opstate.h"
#include "pool.h"

#define MAX_WAIT_MS 1000L   /* a wait is cut into slices: nothing relies on one signal */

/* What a drive waits for. */
enum { UNTIL_ONCE, UNTIL_DONE, UNTIL_ANSWERED, UNTIL_ANY };

static int reached(const acr_op *op, int until)
{
  return acr_op_finished(op) || (until == UNTIL_ANSWERED && acr_op_answered(op));
}

/* The clients one drive runs: the client of an operation or of client:drive(), or the
 * list of acr.drive(clients), each on the stack while the drive runs. */
typedef struct {
  int cidx;
  acr_client *c;
  unsigned long ended;   /* c->ended when the drive began */
} member;

typedef struct {
  member *m;
  int n;
  acr_pool **pools;      /* with n > 1, the wait's scratch (acr_pool_run_many) */
  struct pollfd *fds;
} drive_set;

/* Whether the client has an operation left to wait for (the set may still hold ended
 * ones: start_due clears them only when it walks). */
static int has_left(lua_State *L, const member *m)
{
  /* requests out are the pool's running transfers (one a raise left half made, on
   * the client's list until it closes, is not out) */
  if (m->c->pool && acr_pool_running(m->c->pool) > 0)
    return 1;
  acr_client_push_field(L, m->cidx, "active");
  int t = lua_gettop(L), left = 0;
  lua_pushnil(L);
  while (!left && lua_next(L, t)) {
    lua_pop(L, 1);
    left = !acr_op_finished((const acr_op *)lua_touserdata(L, -1));
  }
  lua_settop(L, t - 1);
  return left;
}

/* Whether an operation of any client ended since the drive began, or none is left to
 * wait for in any of them. */
static int any_ended(lua_State *L, const drive_set *s)
{
  for (int i = 0; i < s->n; i++)
    if (s->m[i].c->ended != s->m[i].ended)
      return 1;
  for (int i = 0; i < s->n; i++)
    if (has_left(L, &s->m[i]))
      return 0;
  return 1;
}

/* One round of a client without waiting: starts what is due, lets its transfers
 * progress, takes in what finished. Right after a wait (`waited`, which ran the pools
 * and took their answers in) the transfers are let progress only when there is
 * something to do: what start_due gave libcurl, or its timer; a socket ready since
 * ends the next wait at once. */
static void step(lua_State *L, const member *m, int waited)
{
  acr_driver_start_due(L, m->cidx);
  if (m->c->pool && (!waited || acr_pool_due(m->c->pool)))
    acr_pool_run(m->c->pool, 0);
  acr_driver_harvest(L, m->cidx, m->c);
}

/* When the client must next be looked at: answers just taken in may have made
 * operations due (a retry at once, the final GET, the ones held for the token) or moved
 * a bucket, so no sleeping past them. */
static double wake_at(const acr_client *c, double now)
{
  return c->due_dirty ? now : acr_driver_next_due(c, now);
}

/* Sleeps until a transfer of a client has something to do or ms pass, lets them
 * progress and takes in what finished. One client waits in its own epoll set, many in
 * one poll() over all of theirs. No Lua runs before every pool has run: a logger that
 * closes a client frees a pool no later than the harvests. */
static void wait_set(lua_State *L, const drive_set *s, long ms)
{
  if (s->n == 1) {
    acr_pool_run(s->m[0].c->pool, ms);
  } else {
    for (int i = 0; i < s->n; i++)
      s->pools[i] = s->m[i].c->pool;
    acr_pool_run_many(s->pools, s->fds, s->n, ms);
  }
  for (int i = 0; i < s->n; i++)
    acr_driver_harvest(L, s->m[i].cidx, s->m[i].c);
}

static int any_pool(const drive_set *s)
{
  for (int i = 0; i < s->n; i++)
    if (s->m[i].c->pool)
      return 1;
  return 0;
}

/* Drives the operations of the set's clients until the one at opidx has reached
 * `until` (with UNTIL_ONCE: one round, no waiting; with UNTIL_ANY: until one of any
 * client ends), or until deadline (monotonic; HUGE_VAL: none). */
static void drive_clients(lua_State *L, const drive_set *s, int opidx, int until,
                          double deadline)
{
  acr_op *op = until != UNTIL_ONCE && until != UNTIL_ANY ? acr_op_check(L, opidx) : NULL;
  const acr_client *oc = s->m[0].c;   /* op's client: an operation's drive has one */
  int waited = 0;
  for (;;) {
    if (op && reached(op, until))
      return;   /* before starting anything: reaching it must not send more */
    for (int i = 0; i < s->n; i++)
      step(L, &s->m[i], waited);
    double now = acr_now();
    if (until == UNTIL_ONCE || (op && reached(op, until)) || now >= deadline || !any_pool(s) ||
        (until == UNTIL_ANY && any_ended(L, s)))
      return;
    double soonest = HUGE_VAL;
    for (int i = 0; i < s->n; i++) {
      double t = wake_at(s->m[i].c, now);
      if (t < soonest)
        soonest = t;
    }
    double next = soonest < deadline ? soonest : deadline;
    long ms = next == HUGE_VAL ? MAX_WAIT_MS : (long)ceil((next - now) * 1000);
    if (op && acr_driver_startable(oc, op, now))
      ms = 0;   /* due and startable: start it right away */
    wait_set(L, s, ms < 0 ? 0 : ms > MAX_WAIT_MS ? MAX_WAIT_MS : ms);
    waited = 1;
  }
}

/* drive_clients over the one client at cidx. */
static void drive(lua_State *L, int cidx, int opidx, int until, double deadline)
{
  member m;
  m.cidx = cidx;
  m.c = (acr_client *)lua_touserdata(L, cidx);
  m.ended = m.c->ended;
  drive_set s = { &m, 1, NULL, NULL };
  drive_clients(L, &s, opidx, until, deadline);
}

/* Pushes the client of the operation at idx; returns its index. */
static int push_client(lua_State *L, int idx)
{
  acr_uv_get(L, idx, "client");
  return lua_gettop(L);
}

/* begin_*: sends the operation's first request and returns without waiting for it. */
void acr_op_start(lua_State *L, int idx)
{
  idx = lua_absindex(L, idx);
  int cidx = push_client(L, idx);
  acr_driver_adopt(L, cidx, idx);
  acr_driver_start(L, cidx, idx);
  drive(L, cidx, idx, UNTIL_ONCE, 0);
  lua_settop(L, cidx - 1);
}

int acr_op_wait(lua_State *L, int idx)
{
  idx = lua_absindex(L, idx);
  int cidx = push_client(L, idx);
  acr_driver_adopt(L, cidx, idx);
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
  acr_driver_adopt(L, cidx, 1);
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
  acr_driver_adopt(L, cidx, 1);
  if (acr_op_due(op) <= acr_now())
    acr_driver_start(L, cidx, 1);
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
  acr_driver_adopt(L, cidx, 1);
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

static int by_client(const void *a, const void *b)
{
  uintptr_t x = (uintptr_t)((const member *)a)->c, y = (uintptr_t)((const member *)b)->c;
  return x < y ? -1 : x > y;
}

/* syntax: n = acr.drive(clients, max_seconds?)  -- client:drive() over every client of the
 * list together: drives their started operations until one of any of them ends (or
 * none is left in any, or max_seconds pass); returns how many ended. A client listed
 * twice is driven once. */
static int drive_many(lua_State *L)
{
  if (lua_type(L, 1) != LUA_TTABLE)
    acr_typeerror(L, 1, "list of acr.Client");
  double max = opt_max_seconds(L, 2);
  size_t len = lua_rawlen(L, 1);
  /* each client is kept on the stack while the drive runs: the list may change */
  if (len > 100000 || !lua_checkstack(L, (int)len + LUA_MINSTACK))
    acr_argerror(L, 1, "more clients than one drive takes");
  int n = (int)len;
  drive_set s;
  size_t each = sizeof *s.m + sizeof *s.pools + sizeof *s.fds;
  s.m = lua_newuserdata(L, n ? (size_t)n * each : 1);   /* collected if a check raises */
  s.pools = (acr_pool **)(void *)(s.m + n);
  s.fds = (struct pollfd *)(void *)(s.pools + n);
  s.n = 0;
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 1, i);
    acr_client *c = luaL_testudata(L, -1, ACR_CLIENT_MT);
    if (!c)
      acr_argerror(L, 1, "item %d is a %s, not an acr.Client", i, acr_type_name(L, -1));
    if (c->closed)
      acr_argerror(L, 1, "item %d is a closed acr.Client", i);
    s.m[i - 1].cidx = lua_gettop(L);
    s.m[i - 1].c = c;
    s.m[i - 1].ended = c->ended;
  }
  /* a client listed twice is driven once: sorted, so that a long list costs no more
   * than the drive's own walks over it */
  qsort(s.m, (size_t)n, sizeof *s.m, by_client);
  for (int i = 0; i < n; i++)
    if (s.n == 0 || s.m[s.n - 1].c != s.m[i].c)
      s.m[s.n++] = s.m[i];
  if (s.n > 0)
    drive_clients(L, &s, 0, UNTIL_ANY, max < 0 ? HUGE_VAL : acr_now() + max);
  lua_Integer ended = 0;
  for (int i = 0; i < s.n; i++)
    ended += (lua_Integer)(s.m[i].c->ended - s.m[i].ended);
  lua_pushinteger(L, ended);
  return 1;
}

void acr_driver_open(lua_State *L)
{
  acr_pushfunc(L, drive_many, "acr.drive");
  lua_setfield(L, -2, "drive");
}

void acr_driver_methods(lua_State *L)
{
  static const luaL_Reg methods[] = {
    {"result", op_result}, {"wait", op_wait}, {"poll", op_poll},
    {"wait_accepted", op_wait_accepted}, {NULL, NULL}
  };
  acr_setfuncs(L, methods, "");
}
