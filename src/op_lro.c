/* Long-running operations, carried out: the first answer says how to follow the
 * operation (lro.c decides which way), each poll says whether it has ended, and a final
 * GET fetches the result. Every URL followed is checked here first. Part of the state
 * machine in operation.c (op_private.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "error.h"
#include "json.h"
#include "op_private.h"
#include "opstate.h"
#include "url.h"

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
  op->target = acr_opi_keep_string(L, idx, "target", d, strlen(d));
  free(d);
  return 1;
}

/* Waits for the next poll: the service's Retry-After, else the client's interval,
 * within the operation's overall timeout. A Retry-After is honoured up to the retry
 * policy's max_delay (60 s), or the poll interval when that is longer: a status asked
 * for once a minute costs little, and a server that says "in an hour" is not believed. */
static void schedule_poll(lua_State *L, int idx, acr_op *op, int hdr)
{
  double ra = acr_opi_retry_after(L, hdr);
  double cap = op->client->retry.max_delay;
  if (op->client->poll_interval > cap)
    cap = op->client->poll_interval;
  double wait = ra >= 0 ? (ra < cap ? ra : cap) : op->client->poll_interval;
  if (wait > ACR_MAX_POLL_WAIT)
    wait = ACR_MAX_POLL_WAIT;
  double t = acr_now() + wait;
  if (op->deadline > 0 && t > op->deadline) {
    char msg[128];
    snprintf(msg, sizeof msg, "the operation did not finish within %g s",
             op->client->lro_timeout);
    acr_opi_fail_with(L, idx, op, "Timeout", msg);
    return;
  }
  op->not_before = t;
}

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
  acr_error_push_response(L, 0, 0, doc, 0);
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
    acr_opi_finish(L, idx, op, result_idx);
    return;
  }
  if (!set_target(L, idx, op, which == 1 ? op->url : op->location))
    return;
  op->phase = PH_FINAL;
  op->not_before = acr_now();
}

/* A first answer with nothing to poll may still be final, but only with the resource
 * in it: a 201 (Created carries the resource, Accepted a status URL) or a PUT/PATCH
 * answer without one, and any 202 from DELETE or POST, would be a success the service
 * never confirmed. Writes why into msg; 0 when the answer can be used. */
static int nothing_to_follow(lua_State *L, const acr_op *op, long status, int doc,
                             char *msg, size_t size)
{
  int none = !doc || !lua_istable(L, doc);
  if (op->via == ACR_POLL_NONE && status == 202)
    snprintf(msg, size, "202 Accepted came without an Azure-AsyncOperation or Location header");
  else if (none && (op->via == ACR_POLL_BODY || (op->via == ACR_POLL_NONE && status == 201)))
    snprintf(msg, size, "HTTP %ld came with no resource body and no Azure-AsyncOperation or "
                        "Location header: nothing to poll and no result", status);
  else
    return 0;
  return 1;
}

void acr_opi_lro_begin(lua_State *L, int idx, acr_op *op, long status, int hdr, int doc, int res)
{
  const char *async = acr_opi_header(L, hdr, "azure-asyncoperation");
  const char *loc = acr_opi_header(L, hdr, "location");
  const char *ps = provisioning_state(L, doc);
  if (status == 200 && (!strcmp(op->method, "PUT") || !strcmp(op->method, "PATCH")) &&
      op->final_via == ACR_FINAL_DEFAULT && acr_lro_parse_state(ps) == ACR_LRO_SUCCEEDED) {
    acr_opi_finish(L, idx, op, res);   /* terminal already: whatever polling header came with it */
    return;
  }
  op->via = acr_lro_choose(op->method, async, loc);
  char why[160];
  if (nothing_to_follow(L, op, status, doc, why, sizeof why)) {
    acr_opi_fail_answer(L, idx, op, "InvalidLroResponse", why);
    return;
  }
  /* Only a URL the operation will follow is checked: a Location beside a usable
   * Azure-AsyncOperation matters only when the final GET is of it. */
  int need_loc = loc && *loc && (op->via == ACR_POLL_LOCATION ||
                                 acr_lro_final_get(op->method, op->via, op->final_via, 1) == 2);
  if (need_loc) {
    char *d = follow(L, idx, op, loc);
    if (!d)
      return;
    op->location = acr_opi_keep_string(L, idx, "location", d, strlen(d));
    free(d);
  }
  op->deadline = op->client->lro_timeout > 0 ? acr_now() + op->client->lro_timeout : 0;
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
      acr_opi_finish(L, idx, op, res);
    }
    return;
  }
  acr_opi_finish(L, idx, op, res);
}

static void poll_async(lua_State *L, int idx, acr_op *op, int hdr, int doc, int res)
{
  const char *st_text = doc ? acr_json_getstring(L, doc, "status") : NULL;
  if (!st_text) {
    acr_opi_fail_answer(L, idx, op, "InvalidLroResponse",
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

void acr_opi_lro_poll(lua_State *L, int idx, acr_op *op, long status, int hdr, int doc, int res)
{
  /* A status URL may change from one poll to the next: follow the newest. */
  const char *next = acr_opi_header(L, hdr, op->via == ACR_POLL_ASYNC ? "azure-asyncoperation"
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
      acr_opi_finish(L, idx, op, res);
  } else {
    const char *ps = provisioning_state(L, doc);
    acr_lro_state st = acr_lro_parse_state(ps);
    if (ps)
      snprintf(op->status, sizeof op->status, "%.31s", ps);
    if (!ps || st == ACR_LRO_SUCCEEDED)
      acr_opi_finish(L, idx, op, res);
    else if (st == ACR_LRO_RUNNING)
      schedule_poll(L, idx, op, hdr);
    else
      fail_operation(L, idx, op, doc, st);
  }
}
