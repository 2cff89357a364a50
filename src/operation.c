/* acr.Operation: the state machine at the heart of every call. It decides retries,
 * LRO polling and final GETs; drivers only carry requests and responses. Its Lua
 * methods and the drivers' interface are op_methods.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/rand.h>

#include "auth.h"
#include "client.h"
#include "error.h"
#include "json.h"
#include "luax.h"
#include "op_private.h"
#include "operation.h"
#include "opstate.h"
#include "retry.h"


static double now_mono(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double acr_now(void)
{
  return now_mono();
}

/* A version 4 UUID for x-ms-client-request-id: one per operation, kept across polls. */
static void new_request_id(char out[37])
{
  unsigned char r[16];
  if (RAND_bytes(r, sizeof r) != 1)
    memset(r, 0x5a, sizeof r);
  r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
  r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
  snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
           r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9], r[10], r[11], r[12],
           r[13], r[14], r[15]);
}

acr_op *acr_opi_check_op(lua_State *L, int idx)
{
  return (acr_op *)luaL_checkudata(L, idx, ACR_OPERATION_MT);
}

/* uservalue fields: client, result, error, headers (extra request headers), and the
 * strings url, target, location, body */

/* Stores s[0..len) as uservalue[k] of the operation at idx; returns the stored copy.
 * An operation holds no C memory of its own, only Lua strings, so it needs no __gc:
 * Lua frees it with its userdata even where no finalizer will run. That happens to an
 * operation made by a finalizer while the state closes: Lua 5.4 then marks no object
 * for finalization, and LuaJIT finalizes it in a later round, after the module's own
 * library may have been unloaded. The pointer stays valid while the field holds the
 * string: neither collector moves objects. */
static const char *keep_string(lua_State *L, int idx, const char *k, const char *s, size_t len)
{
  idx = lua_absindex(L, idx);
  lua_pushlstring(L, s, len);
  const char *copy = lua_tostring(L, -1);
  acr_uv_set(L, idx, k);
  return copy;
}

void acr_op_push(lua_State *L, int cidx, const acr_op_spec *spec)
{
  cidx = lua_absindex(L, cidx);
  acr_client *c = acr_check_client(L, cidx);
  acr_op *op = (acr_op *)acr_newuserdata(L, sizeof *op);
  memset(op, 0, sizeof *op);
  luaL_setmetatable(L, ACR_OPERATION_MT);
  lua_createtable(L, 0, 8);
  lua_pushvalue(L, cidx);
  lua_setfield(L, -2, "client");
  if (spec->headers_idx) {
    /* A private copy of the (checked) string pairs: the caller's table may change. */
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, spec->headers_idx)) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_rawset(L, -4);
      } else {
        lua_pop(L, 1);
      }
    }
    lua_setfield(L, -2, "headers");
  }
  acr_setuservalue(L, -2);
  op->client = c;
  snprintf(op->method, sizeof op->method, "%s", spec->method);
  op->url = keep_string(L, -1, "url", spec->url, strlen(spec->url));
  op->target = keep_string(L, -1, "target", spec->url, strlen(spec->url));
  if (spec->body) {
    op->body = keep_string(L, -1, "body", spec->body, spec->body_len);
    op->body_len = spec->body_len;
  }
  op->lro = spec->lro;
  op->shape = spec->shape;
  op->final_via = spec->final_via;
  op->wrap = spec->wrap;
  op->idempotent = spec->idempotent;
  op->timeout = spec->timeout > 0 ? spec->timeout : c->timeout;
  snprintf(op->status, sizeof op->status, "NotStarted");
  new_request_id(op->request_id);
  op->phase = PH_INITIAL;
}

/* ---- outcomes ---- */

static void finish(lua_State *L, int idx, acr_op *op, int result_idx)
{
  if (result_idx) {
    lua_pushvalue(L, result_idx);
    acr_uv_set(L, idx, "result");
  }
  op->phase = PH_DONE;
  snprintf(op->status, sizeof op->status, "Succeeded");
}

void acr_opi_fail(lua_State *L, int idx, acr_op *op)  /* pops the error */
{
  lua_pushstring(L, op->request_id);
  lua_setfield(L, -2, "client_request_id");
  acr_uv_set(L, idx, "error");
  op->phase = PH_DONE;
  snprintf(op->status, sizeof op->status, "Failed");
}

void acr_opi_fail_with(lua_State *L, int idx, acr_op *op, const char *code, const char *msg)
{
  acr_error_push(L, code, msg, 0);
  acr_opi_fail(L, idx, op);
}

/* Resolves a Location, Azure-AsyncOperation or poll URL against the URL of the request
 * that returned it (url.c's one reader). Bearer tokens go to the configured endpoint's
 * origin only: a URL on another origin, or one that cannot be read unambiguously, fails
 * the operation and is never followed. Returns the canonical URL (malloc'ed) or NULL. */
static char *follow(lua_State *L, int idx, acr_op *op, const char *ref)
{
  acr_buf url = ACR_BUF_INIT;
  acr_origin o;
  int rc = acr_url_resolve(op->target, ref, &url, &o);
  if (rc == 0 && acr_origin_equal(&o, &op->client->origin))
    return url.data;
  acr_buf_free(&url);
  char msg[384];
  snprintf(msg, sizeof msg, "refusing to follow %.200s: it is not on the configured endpoint %.120s",
           rc == 0 ? o.host : "a URL that cannot be read unambiguously", op->client->endpoint);
  acr_opi_fail_with(L, idx, op, "UntrustedHost", msg);
  return NULL;
}

static int set_target(lua_State *L, int idx, acr_op *op, const char *url)
{
  char *d = follow(L, idx, op, url);
  if (!d)
    return 0;
  op->target = keep_string(L, idx, "target", d, strlen(d));
  free(d);
  return 1;
}

static const char *header(lua_State *L, int hdr, const char *name)
{
  if (!hdr)
    return NULL;
  lua_pushstring(L, name);
  lua_rawget(L, hdr);  /* raw: no __index may hand back a string only it holds */
  const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1);  /* the string stays alive in the headers table, which feed() keeps */
  return v;
}

static double retry_after(lua_State *L, int hdr)
{
  return acr_retry_after(header(L, hdr, "retry-after-ms"), header(L, hdr, "x-ms-retry-after-ms"),
                         header(L, hdr, "retry-after"));
}

/* Waits for the next poll: the service's Retry-After, else the client's interval,
 * within the operation's overall timeout. A Retry-After is honoured up to the retry
 * policy's max_delay (60 s), or the poll interval when that is longer: a status asked
 * for once a minute costs little, and a server that says "in an hour" is not believed. */
static void schedule_poll(lua_State *L, int idx, acr_op *op, int hdr)
{
  double ra = retry_after(L, hdr);
  double cap = op->client->retry.max_delay;
  if (op->client->poll_interval > cap)
    cap = op->client->poll_interval;
  double wait = ra >= 0 ? (ra < cap ? ra : cap) : op->client->poll_interval;
  if (wait > ACR_MAX_POLL_WAIT)
    wait = ACR_MAX_POLL_WAIT;
  double t = now_mono() + wait;
  if (op->deadline > 0 && t > op->deadline) {
    char msg[128];
    snprintf(msg, sizeof msg, "the operation did not finish within %g s",
             op->client->lro_timeout);
    acr_opi_fail_with(L, idx, op, "Timeout", msg);
    return;
  }
  op->not_before = t;
}

/* Pushes the client's credential; returns its index. */
int acr_opi_push_credential(lua_State *L, int idx)
{
  acr_uv_get(L, idx, "client");
  acr_client_push_field(L, -1, "credential");
  lua_remove(L, -2);
  acr_check_credential(L, -1);
  return lua_gettop(L);
}

acr_token_target acr_opi_token_target(const acr_op *op)
{
  acr_token_target t = {op->client->scope, op->client->resource, op->client->authority};
  return t;
}

/* ---- retries ---- */

static const char *transport_code(const char *terr)
{
  static const char *const known[] = {"Timeout", "ConnectionFailed", "TlsError",
                                      "ResponseTooLarge", NULL};
  for (int i = 0; known[i]; i++)
    if (!strcmp(terr, known[i]))
      return known[i];
  return "TransportError";
}

static void on_transport_error(lua_State *L, int idx, acr_op *op, const char *terr,
                               const char *msg)
{
  const char *code = transport_code(terr);
  const char *method = op->phase == PH_INITIAL ? op->method : "GET";
  int transient = !strcmp(code, "Timeout") || !strcmp(code, "ConnectionFailed");
  if (transient && acr_retry_transport(method, op->idempotent) &&
      op->attempt < op->client->retry.max_retries) {
    op->attempt++;
    double wait = acr_retry_backoff(&op->client->retry, op->attempt, &op->client->seed);
    op->not_before = now_mono() + wait;
    acr_opi_note_retry(op, op->attempt, wait, 0, code);
    return;
  }
  acr_error_push(L, code, msg && *msg ? msg : code, 0);
  acr_error_set_retryable(L, -1, transient);
  acr_opi_fail(L, idx, op);
}

/* A 429 with a Retry-After the retry policy accepts is waited out without counting as
 * a retry, up to ACR_MAX_THROTTLED seconds in all and within the operation's deadline:
 * with ARM's buckets shared by a whole subscription, throttling alone must not fail a
 * job that is otherwise making progress. */
static int wait_out_throttling(lua_State *L, acr_op *op, int hdr)
{
  double ra = retry_after(L, hdr);
  double t = now_mono() + ra;
  /* a Retry-After under a second is an ordinary retry: waiting it out would not bound */
  if (ra < 1 || ra > op->client->retry.max_delay || op->throttled + ra > ACR_MAX_THROTTLED ||
      (op->deadline > 0 && t > op->deadline))
    return 0;
  op->throttled += ra;
  op->not_before = t;
  acr_opi_note_throttled(op, ra);
  return 1;
}

static void on_http_error(lua_State *L, int idx, acr_op *op, long status, int hdr, int doc)
{
  const char *method = op->phase == PH_INITIAL ? op->method : "GET";
  if (status == 401 && !op->auth_retried) {
    /* ARM refused the token: drop it and ask the credential once more. */
    int cred = acr_opi_push_credential(L, idx);
    int again = acr_credential_can_refresh(L, cred);
    /* once per token: operations refused with a token another one has replaced since
     * use the new one rather than drop it */
    if (again && acr_credential_generation(L, cred) == op->token_gen)
      acr_credential_invalidate(L, cred);
    lua_pop(L, 1);
    op->stale_ok = 0;
    if (again) {
      op->auth_retried = 1;
      op->not_before = now_mono();
      return;
    }
  }
  if (status == 429 && wait_out_throttling(L, op, hdr))
    return;
  int retryable = acr_retry_status(method, status, op->idempotent);
  acr_error_push_response(L, status, hdr, doc);
  acr_error_set_retryable(L, -1, retryable);
  if (retryable && op->attempt < op->client->retry.max_retries) {
    double ra = retry_after(L, hdr);
    if (ra <= op->client->retry.max_delay) {
      lua_pop(L, 1);
      op->attempt++;
      double wait = ra >= 0 ? ra : acr_retry_backoff(&op->client->retry, op->attempt,
                                                      &op->client->seed);
      op->not_before = now_mono() + wait;
      acr_opi_note_retry(op, op->attempt, wait, status, NULL);
      return;
    }
    /* The service asked for a longer wait than we allow: say so rather than sleep. */
  }
  acr_opi_fail(L, idx, op);
}

/* ---- long-running operations ---- */

static const char *provisioning_state(lua_State *L, int doc)
{
  if (!doc || !lua_istable(L, doc))
    return NULL;
  lua_getfield(L, doc, "properties");
  const char *s = acr_json_getstring(L, -1, "provisioningState");
  if (s)
    lua_remove(L, -2);
  else
    lua_pop(L, 1);
  return s;  /* kept alive by the document */
}

/* A Failed or Canceled operation reports its own error.code and message. */
static void fail_operation(lua_State *L, int idx, acr_op *op, int doc, acr_lro_state st)
{
  acr_error_push_response(L, 0, 0, doc);
  lua_getfield(L, -1, "code");
  const char *code = lua_tostring(L, -1);
  int generic = !code || !strcmp(code, "HttpError");
  lua_pop(L, 1);
  if (generic) {
    lua_pushstring(L, st == ACR_LRO_CANCELED ? "OperationCanceled" : "OperationFailed");
    lua_setfield(L, -2, "code");
    lua_pushstring(L, st == ACR_LRO_CANCELED ? "the operation was canceled"
                                             : "the operation failed");
    lua_setfield(L, -2, "message");
  }
  lua_pushnil(L);
  lua_setfield(L, -2, "status");
  acr_opi_fail(L, idx, op);
}

static void go_final(lua_State *L, int idx, acr_op *op, int which, int result_idx)
{
  if (which == 0) {
    finish(L, idx, op, result_idx);
    return;
  }
  if (!set_target(L, idx, op, which == 1 ? op->url : op->location))
    return;
  op->phase = PH_FINAL;
  op->not_before = now_mono();
}

static void lro_begin(lua_State *L, int idx, acr_op *op, long status, int hdr, int doc, int res)
{
  const char *async = header(L, hdr, "azure-asyncoperation");
  const char *loc = header(L, hdr, "location");
  const char *ps = provisioning_state(L, doc);
  if (status == 200 && (!strcmp(op->method, "PUT") || !strcmp(op->method, "PATCH")) &&
      op->final_via == ACR_FINAL_DEFAULT && acr_lro_parse_state(ps) == ACR_LRO_SUCCEEDED) {
    finish(L, idx, op, res);   /* terminal already: whatever polling header came with it */
    return;
  }
  op->via = acr_lro_choose(op->method, async, loc);
  /* Only a URL the operation will follow is checked: a Location beside a usable
   * Azure-AsyncOperation matters only when the final GET is of it. */
  int need_loc = loc && *loc && (op->via == ACR_POLL_LOCATION ||
                                 acr_lro_final_get(op->method, op->via, op->final_via, 1) == 2);
  if (need_loc) {
    char *d = follow(L, idx, op, loc);
    if (!d)
      return;
    op->location = keep_string(L, idx, "location", d, strlen(d));
    free(d);
  }
  op->deadline = op->client->lro_timeout > 0 ? now_mono() + op->client->lro_timeout : 0;
  if (op->via == ACR_POLL_ASYNC || op->via == ACR_POLL_LOCATION) {
    if (set_target(L, idx, op, op->via == ACR_POLL_ASYNC ? async : loc)) {
      op->phase = PH_POLL;
      snprintf(op->status, sizeof op->status, "InProgress");
      schedule_poll(L, idx, op, hdr);
    }
    return;
  }
  if (op->via == ACR_POLL_BODY) {
    acr_lro_state st = acr_lro_parse_state(ps);
    if (ps && st == ACR_LRO_RUNNING) {
      op->phase = PH_POLL;
      snprintf(op->status, sizeof op->status, "%.31s", ps);
      schedule_poll(L, idx, op, hdr);
    } else if (st == ACR_LRO_FAILED || st == ACR_LRO_CANCELED) {
      fail_operation(L, idx, op, doc, st);
    } else {
      finish(L, idx, op, res);
    }
    return;
  }
  if (status == 202) {
    acr_opi_fail_with(L, idx, op, "InvalidLroResponse",
              "202 Accepted came without an Azure-AsyncOperation or Location header");
    return;
  }
  finish(L, idx, op, res);
}

static void poll_async(lua_State *L, int idx, acr_op *op, int hdr, int doc, int res)
{
  const char *st_text = doc ? acr_json_getstring(L, doc, "status") : NULL;
  if (!st_text) {
    acr_opi_fail_with(L, idx, op, "InvalidLroResponse",
              "the operation status resource has no \"status\" field");
    return;
  }
  snprintf(op->status, sizeof op->status, "%.31s", st_text);
  acr_lro_state st = acr_lro_parse_state(st_text);
  lua_pop(L, 1);
  if (st == ACR_LRO_RUNNING) {
    schedule_poll(L, idx, op, hdr);
  } else if (st == ACR_LRO_SUCCEEDED) {
    go_final(L, idx, op, acr_lro_final_get(op->method, op->via, op->final_via,
                                           op->location != NULL), res);
  } else {
    fail_operation(L, idx, op, doc, st);
  }
}

static void lro_poll(lua_State *L, int idx, acr_op *op, long status, int hdr, int doc, int res)
{
  /* A status URL may change from one poll to the next: follow the newest. */
  const char *next = header(L, hdr, op->via == ACR_POLL_ASYNC ? "azure-asyncoperation"
                                                               : "location");
  if (op->via != ACR_POLL_BODY && next && *next && strcmp(next, op->target) &&
      !set_target(L, idx, op, next))
    return;
  if (op->via == ACR_POLL_ASYNC) {
    poll_async(L, idx, op, hdr, doc, res);
  } else if (op->via == ACR_POLL_LOCATION) {
    if (status == 202)
      schedule_poll(L, idx, op, hdr);
    else if (!doc && (!strcmp(op->method, "PUT") || !strcmp(op->method, "PATCH")))
      go_final(L, idx, op, 1, 0);
    else
      finish(L, idx, op, res);
  } else {
    const char *ps = provisioning_state(L, doc);
    acr_lro_state st = acr_lro_parse_state(ps);
    if (ps)
      snprintf(op->status, sizeof op->status, "%.31s", ps);
    if (!ps || st == ACR_LRO_SUCCEEDED)
      finish(L, idx, op, res);
    else if (st == ACR_LRO_RUNNING)
      schedule_poll(L, idx, op, hdr);
    else
      fail_operation(L, idx, op, doc, st);
  }
}

/* ---- feeding a response ---- */

/* The value result() will be made from: the raw response for RAW, else the document. */
static int push_result_value(lua_State *L, acr_op *op, long status, int hdr, int body, int doc)
{
  if (op->shape == ACR_SHAPE_RAW) {
    lua_createtable(L, 0, 3);
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
    if (hdr)
      lua_pushvalue(L, hdr);
    else
      lua_newtable(L);
    lua_setfield(L, -2, "headers");
    if (doc)
      lua_pushvalue(L, doc);
    else if (body)
      lua_pushvalue(L, body);
    else
      lua_pushnil(L);
    lua_setfield(L, -2, "body");
  } else if (doc) {
    lua_pushvalue(L, doc);
  } else {
    lua_pushnil(L);
  }
  return lua_gettop(L);
}

static void on_success(lua_State *L, int idx, acr_op *op, long status, int hdr, int body, int doc)
{
  int res = push_result_value(L, op, status, hdr, body, doc);
  if (lua_isnil(L, res))
    res = 0;
  op->attempt = 0;
  if (op->phase == PH_INITIAL && !op->lro)
    finish(L, idx, op, res);
  else if (op->phase == PH_INITIAL)
    lro_begin(L, idx, op, status, hdr, doc, res);
  else if (op->phase == PH_POLL)
    lro_poll(L, idx, op, status, hdr, doc, res);
  else
    finish(L, idx, op, res);
}

const char *acr_opi_current_method(const acr_op *op)
{
  return op->phase == PH_INITIAL ? op->method : "GET";
}

/* The smallest x-ms-ratelimit-remaining-*-<kind> of the headers at hdr, or -1. */
static double ratelimit_remaining(lua_State *L, int hdr, int kind)
{
  static const char *const names[ACR_KINDS][3] = {
    {"x-ms-ratelimit-remaining-subscription-reads", "x-ms-ratelimit-remaining-tenant-reads",
     "x-ms-ratelimit-remaining-subscription-global-reads"},
    {"x-ms-ratelimit-remaining-subscription-writes", "x-ms-ratelimit-remaining-tenant-writes",
     "x-ms-ratelimit-remaining-subscription-global-writes"},
    {"x-ms-ratelimit-remaining-subscription-deletes", "x-ms-ratelimit-remaining-tenant-deletes",
     "x-ms-ratelimit-remaining-subscription-global-deletes"}};
  double best = -1;
  for (int i = 0; i < 3; i++) {
    const char *v = header(L, hdr, names[kind][i]);
    size_t n = v ? strspn(v, "0123456789") : 0;
    if (n > 0 && n < 10 && v[n] == '\0') {
      double d = (double)atol(v);
      if (best < 0 || d < best)
        best = d;
    }
  }
  return best;
}

/* What ARM's answer (acr_opi_feed()'s values at a) says of its bucket, for the client's pacer:
 * both drivers feed every answer through here. */
static void pace_answer(lua_State *L, acr_op *op, int a)
{
  const char *method = acr_opi_current_method(op);
  int transport = !lua_isnoneornil(L, a + 3);
  long status = transport || lua_type(L, a) != LUA_TNUMBER ? 0 : (long)lua_tointeger(L, a);
  int hdr = !transport && lua_istable(L, a + 1) ? a + 1 : 0;
  double remaining = hdr ? ratelimit_remaining(L, hdr, acr_pacer_kind(method)) : -1;
  double ra = status == 429 && hdr ? retry_after(L, hdr) : -1;
  if (ra > op->client->retry.max_delay)
    ra = op->client->retry.max_delay;   /* a longer one fails its operation, not the rest */
  acr_pacer_answered(&op->client->pacer, method, op->paced, status, remaining, ra, now_mono());
  op->paced = 0;
}

/* acr_opi_feed(status, headers, body, transport_error, message) at stack positions a..a+4 */
void acr_opi_feed(lua_State *L, int idx, acr_op *op, int a)
{
  int top = lua_gettop(L);
  if (op->phase == PH_DONE)
    luaL_error(L, "acr.Operation: acr_opi_feed() on a finished operation");
  if (op->client->closed) {
    acr_opi_fail_with(L, idx, op, "ClientClosed", "the client was closed before the operation ended");
    lua_settop(L, top);
    return;
  }
  if (op->awaiting_auth) {
    acr_auth_answer ans = {0, 0, NULL, 0, NULL, NULL};
    ans.terr = lua_isnoneornil(L, a + 3) ? NULL : luaL_checkstring(L, a + 3);
    ans.tmsg = luaL_optstring(L, a + 4, NULL);
    ans.status = ans.terr ? 0 : (long)luaL_checkinteger(L, a);
    ans.hdr = lua_istable(L, a + 1) ? a + 1 : 0;
    if (lua_type(L, a + 2) == LUA_TSTRING)
      ans.body = lua_tolstring(L, a + 2, &ans.body_len);
    acr_opi_feed_auth(L, idx, op, &ans);
    lua_settop(L, top);
    return;
  }
  op->answered = 1;
  pace_answer(L, op, a);
  if (!lua_isnoneornil(L, a + 3)) {
    on_transport_error(L, idx, op, luaL_checkstring(L, a + 3), luaL_optstring(L, a + 4, NULL));
    lua_settop(L, top);
    return;
  }
  long status = (long)luaL_checkinteger(L, a);
  int hdr = lua_istable(L, a + 1) ? a + 1 : 0;
  int body = lua_type(L, a + 2) == LUA_TSTRING ? a + 2 : 0;
  int doc = 0, garbled = 0;
  if (body) {
    size_t len;
    const char *s = lua_tolstring(L, body, &len);
    if (acr_json_decode(L, s, len)) {
      doc = lua_gettop(L);
      if (acr_json_isnull(L, doc))
        doc = 0;
    } else {
      garbled = s[strspn(s, " \t\r\n")] != '\0';
    }
  }
  int ok = status >= 200 && status < 300;
  if (ok && garbled && op->shape != ACR_SHAPE_RAW)
    acr_opi_fail_with(L, idx, op, "InvalidResponse",
              "the service's response is not JSON (truncated or malformed)");
  else if (ok)
    on_success(L, idx, op, status, hdr, body, doc);
  else
    on_http_error(L, idx, op, status, hdr, doc);
  lua_settop(L, top);
}

