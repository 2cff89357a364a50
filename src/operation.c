/* acr.Operation: the state machine at the heart of every call. It decides retries,
 * LRO polling and final GETs; drivers only carry requests and responses. How an LRO
 * is followed is op_lro.c; its Lua methods and the drivers' interface are op_methods.c. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
#include "clock.h"


double acr_now(void)
{
  return acr_clock();
}

/* A version 4 UUID for x-ms-client-request-id: one per operation, kept across polls. */
static void new_request_id(char out[ACR_MAX_REQUEST_ID + 1])
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
  return (acr_op *)acr_check_udata(L, idx, ACR_OPERATION_MT, "acr.Operation");
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
const char *acr_opi_keep_string(lua_State *L, int idx, const char *k, const char *s, size_t len)
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
  new_request_id(op->request_id);
  if (spec->headers_idx) {
    /* A private copy of the (checked) string pairs: the caller's table may change. A
     * caller's own request id replaces ours, so that every request of the operation,
     * polls and final GET too, carries the id its logs know; drivers send it once. */
    lua_newtable(L);
    lua_pushnil(L);
    while (lua_next(L, spec->headers_idx)) {
      if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING &&
          !strcasecmp(lua_tostring(L, -2), "x-ms-client-request-id")) {
        snprintf(op->request_id, sizeof op->request_id, "%s", lua_tostring(L, -1));
        lua_pop(L, 1);
      } else if (lua_type(L, -2) == LUA_TSTRING && lua_type(L, -1) == LUA_TSTRING) {
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
  op->url = acr_opi_keep_string(L, -1, "url", spec->url, strlen(spec->url));
  op->target = acr_opi_keep_string(L, -1, "target", spec->url, strlen(spec->url));
  if (spec->body) {
    op->body = acr_opi_keep_string(L, -1, "body", spec->body, spec->body_len);
    op->body_len = spec->body_len;
  }
  op->lro = spec->lro;
  op->shape = spec->shape;
  op->final_via = spec->final_via;
  op->wrap = spec->wrap;
  op->idempotent = spec->idempotent;
  op->timeout = spec->timeout > 0 ? spec->timeout : c->timeout;
  snprintf(op->status, sizeof op->status, "NotStarted");
  op->phase = PH_INITIAL;
}

/* ---- outcomes ---- */

/* A call that makes an object or a page needs a JSON object to make it of: ending
 * without one is the answer's fault, reported with its status, not a success. */
static int needs_document(const acr_op *op)
{
  return op->shape != ACR_SHAPE_RAW && op->shape != ACR_SHAPE_DELETED;
}

void acr_opi_finish(lua_State *L, int idx, acr_op *op, int result_idx)
{
  if (needs_document(op) && (!result_idx || !lua_istable(L, result_idx))) {
    acr_opi_fail_answer(L, idx, op, "InvalidResponse", "the service returned no resource document");
    return;
  }
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

void acr_opi_fail_answer(lua_State *L, int idx, acr_op *op, const char *code, const char *msg)
{
  acr_error_push(L, code, msg, op->answer_status);
  acr_error_set_ids(L, -1, op->answer_hdr);
  acr_opi_fail(L, idx, op);
}

const char *acr_opi_header(lua_State *L, int hdr, const char *name)
{
  if (!hdr)
    return NULL;
  lua_pushstring(L, name);
  lua_rawget(L, hdr);  /* raw: no __index may hand back a string only it holds */
  const char *v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  lua_pop(L, 1);  /* the string stays alive in the headers table, which feed() keeps */
  return v;
}

double acr_opi_retry_after(lua_State *L, int hdr)
{
  return acr_retry_after(acr_opi_header(L, hdr, "retry-after-ms"),
                         acr_opi_header(L, hdr, "x-ms-retry-after-ms"),
                         acr_opi_header(L, hdr, "retry-after"));
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
    op->not_before = acr_now() + wait;
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
  double ra = acr_opi_retry_after(L, hdr);
  double t = acr_now() + ra;
  /* a Retry-After under a second is an ordinary retry: waiting it out would not bound */
  if (ra < 1 || ra > op->client->retry.max_delay || op->throttled + ra > ACR_MAX_THROTTLED ||
      (op->deadline > 0 && t > op->deadline))
    return 0;
  op->throttled += ra;
  op->not_before = t;
  acr_opi_note_throttled(op, ra);
  return 1;
}

static void on_http_error(lua_State *L, int idx, acr_op *op, long status, int hdr, int body,
                          int doc)
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
      op->not_before = acr_now();
      return;
    }
  }
  if (status == 429 && wait_out_throttling(L, op, hdr))
    return;
  int retryable = acr_retry_status(method, status, op->idempotent);
  acr_error_push_response(L, status, hdr, doc, body);
  acr_error_set_retryable(L, -1, retryable);
  if (retryable && op->attempt < op->client->retry.max_retries) {
    double ra = acr_opi_retry_after(L, hdr);
    if (ra <= op->client->retry.max_delay) {
      lua_pop(L, 1);
      op->attempt++;
      double wait = ra >= 0 ? ra : acr_retry_backoff(&op->client->retry, op->attempt,
                                                      &op->client->seed);
      op->not_before = acr_now() + wait;
      acr_opi_note_retry(op, op->attempt, wait, status, NULL);
      return;
    }
    /* The service asked for a longer wait than we allow: say so rather than sleep. */
  }
  acr_opi_fail(L, idx, op);
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
    acr_opi_finish(L, idx, op, res);
  else if (op->phase == PH_INITIAL)
    acr_opi_lro_begin(L, idx, op, status, hdr, doc, res);
  else if (op->phase == PH_POLL)
    acr_opi_lro_poll(L, idx, op, status, hdr, doc, res);
  else
    acr_opi_finish(L, idx, op, res);
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
    const char *v = acr_opi_header(L, hdr, names[kind][i]);
    size_t n = v ? strspn(v, "0123456789") : 0;
    if (n > 0 && n < 10 && v[n] == '\0') {
      double d = (double)atol(v);
      if (best < 0 || d < best)
        best = d;
    }
  }
  return best;
}

/* A transport failure's message, as the driver words it: any text (a NUL ends what is
 * shown of it), or nil. */
static const char *opt_text(lua_State *L, int arg)
{
  if (lua_isnoneornil(L, arg))
    return NULL;
  if (!lua_isstring(L, arg))
    acr_typeerror(L, arg, "string");
  return lua_tostring(L, arg);
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
  double ra = status == 429 && hdr ? acr_opi_retry_after(L, hdr) : -1;
  if (ra > op->client->retry.max_delay)
    ra = op->client->retry.max_delay;   /* a longer one fails its operation, not the rest */
  acr_pacer_answered(&op->client->pacer, method, op->paced, status, remaining, ra, acr_now());
  op->paced = 0;
}

static const char *garbled_message(const acr_op *op)
{
  switch (op->phase) {
  case PH_POLL: return "the operation's status answer is not JSON (truncated or malformed)";
  case PH_FINAL: return "the final GET's answer is not JSON (truncated or malformed)";
  default: return "the service's response is not JSON (truncated or malformed)";
  }
}

/* acr_opi_feed(status, headers, body, transport_error, message) at stack positions a..a+4 */
void acr_opi_feed(lua_State *L, int idx, acr_op *op, int a)
{
  int top = lua_gettop(L);
  if (op->phase == PH_DONE)
    acr_argerror(L, idx, "the acr.Operation is done: nothing more to feed");
  if (op->client->closed) {
    acr_opi_fail_with(L, idx, op, "ClientClosed", "the client was closed before the operation ended");
    lua_settop(L, top);
    return;
  }
  if (op->awaiting_auth) {
    acr_auth_answer ans = {0, 0, NULL, 0, NULL, NULL};
    ans.terr = lua_isnoneornil(L, a + 3) ? NULL : acr_check_cstring(L, a + 3);
    ans.tmsg = opt_text(L, a + 4);
    ans.status = ans.terr ? 0 : (long)acr_check_integer(L, a);
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
    on_transport_error(L, idx, op, acr_check_cstring(L, a + 3), opt_text(L, a + 4));
    lua_settop(L, top);
    return;
  }
  long status = (long)acr_check_integer(L, a);
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
  op->answer_status = status;
  op->answer_hdr = hdr;
  /* A raw call hands a text body back as it came; an LRO or an object needs JSON. */
  if (ok && garbled && (op->shape != ACR_SHAPE_RAW || op->lro))
    acr_opi_fail_answer(L, idx, op, "InvalidResponse", garbled_message(op));
  else if (ok)
    on_success(L, idx, op, status, hdr, body, doc);
  else
    on_http_error(L, idx, op, status, hdr, body, doc);
  op->answer_status = 0;
  op->answer_hdr = 0;
  lua_settop(L, top);
}

