/* How each credential kind gets a token: the request it sends (Entra ID's token
 * endpoint, IMDS, App Service) and how it reads the answer; and default()'s chain trying
 * its members in order. The Azure CLI, which sends no request, is auth_cli.c's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <openssl/crypto.h>

#include "auth.h"
#include "auth_flow.h"
#include "error.h"
#include "json.h"
#include "jsonscan.h"
#include "jwt.h"
#include "retry.h"
#include "url.h"

#define DEFAULT_AUTHORITY "https://login.microsoftonline.com"
#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#define ASSERTION_MAX_AGE 600.0   /* re-read a federated token file after 10 minutes */
#define IMDS_MAX_TRIES 5
#define IMDS_TIMEOUT 3.0          /* a machine with no IMDS should not stall a chain */

void acr_auth_fail(lua_State *L, const char *kind, const char *msg)
{
  lua_pushfstring(L, "%s: %s", kind, msg);
  acr_error_push(L, "AuthenticationFailed", lua_tostring(L, -1), 0);
  lua_remove(L, -2);
}

/* ---- building requests ---- */

static int add_param(acr_buf *b, const char *k, const char *v)
{
  return (b->len && acr_buf_add(b, "&", 1)) || acr_buf_adds(b, k) || acr_buf_add(b, "=", 1) ||
         acr_url_escape(b, v, strlen(v));
}

void acr_auth_request_init(acr_auth_request *r)
{
  memset(r, 0, sizeof *r);
}

void acr_auth_request_free(acr_auth_request *r)
{
  acr_buf_wipe(&r->url);
  acr_buf_wipe(&r->body);
  acr_auth_request_init(r);
}

void acr_auth_request_push(lua_State *L, const acr_auth_request *r)
{
  lua_createtable(L, 0, 6);
  lua_pushstring(L, r->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, r->url.data);
  lua_setfield(L, -2, "url");
  lua_newtable(L);
  for (int i = 0; r->headers[i]; i += 2) {
    lua_pushstring(L, r->headers[i + 1]);
    lua_setfield(L, -2, r->headers[i]);
  }
  lua_setfield(L, -2, "headers");
  if (r->body.len) {
    lua_pushlstring(L, r->body.data, r->body.len);
    lua_setfield(L, -2, "body");
  }
  if (r->timeout > 0) {
    lua_pushnumber(L, r->timeout);
    lua_setfield(L, -2, "timeout");
  }
  lua_pushboolean(L, 1);
  lua_setfield(L, -2, "auth");
}

/* {authority}/{tenant}/oauth2/v2.0/token; authority must be https (http on loopback). */
static int token_url(acr_credential *c, const acr_token_target *t, acr_buf *url, char *err,
                     size_t n)
{
  const char *a = c->authority_host ? c->authority_host
                  : t->authority ? t->authority : DEFAULT_AUTHORITY;
  acr_origin o;
  if (acr_url_origin(a, &o) != 0 ||
      (strcmp(o.scheme, "https") && !acr_origin_is_loopback(&o))) {
    snprintf(err, n, "the authority host %.200s is not an https URL", a);
    return -1;
  }
  size_t al = strlen(a);
  while (al && a[al - 1] == '/')
    al--;
  if (acr_buf_add(url, a, al) || acr_buf_add(url, "/", 1) || acr_buf_adds(url, c->tenant_id) ||
      acr_buf_adds(url, "/oauth2/v2.0/token")) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  return 0;
}

/* Where the request goes, as host:port, for an error that must name it when the
 * request fails in transport (the URL itself may carry a tenant or an identity). */
static void note_host(acr_credential *c, const acr_auth_request *req)
{
  acr_origin o;
  if (!req->url.data || acr_url_origin(req->url.data, &o) != 0)
    snprintf(c->token_host, sizeof c->token_host, "the token endpoint");
  else
    snprintf(c->token_host, sizeof c->token_host, strchr(o.host, ':') ? "[%s]:%ld" : "%s:%ld",
             o.host, o.port);
}

static int read_token_file(acr_credential *c, char *err, size_t n)
{
  double now = (double)time(NULL);
  if (c->assertion.len && now - c->assertion_read_at < ASSERTION_MAX_AGE)
    return 0;
  FILE *f = fopen(c->token_file, "rb");
  if (!f) {
    snprintf(err, n, "cannot read the federated token file %.200s", c->token_file);
    return -1;
  }
  acr_buf_wipe(&c->assertion);
  /* The token is a secret: no stdio buffer (freed unwiped by fclose) and no stack copy. */
  setvbuf(f, NULL, _IONBF, 0);
  char chunk[4096];
  size_t got;
  int rc = 0;
  while (rc == 0 && (got = fread(chunk, 1, sizeof chunk, f)) > 0)
    rc = acr_buf_add(&c->assertion, chunk, got);
  OPENSSL_cleanse(chunk, sizeof chunk);
  fclose(f);
  while (c->assertion.len && strchr(" \t\r\n", c->assertion.data[c->assertion.len - 1]))
    c->assertion.data[--c->assertion.len] = '\0';
  if (rc != 0 || c->assertion.len == 0) {
    acr_buf_wipe(&c->assertion);
    snprintf(err, n, "the federated token file %.200s is empty", c->token_file);
    return -1;
  }
  c->assertion_read_at = now;
  return 0;
}

/* The client-credentials form: a secret, a signed certificate assertion, or a
 * federated token. */
static int entra_form(acr_credential *c, const acr_token_target *t, const char *url,
                      acr_buf *body, char *err, size_t n)
{
  if (add_param(body, "grant_type", "client_credentials") ||
      add_param(body, "client_id", c->client_id) || add_param(body, "scope", t->scope)) {
    snprintf(err, n, "out of memory");
    return -1;
  }
  if (c->kind == ACR_CRED_CLIENT_SECRET)
    return add_param(body, "client_secret", c->secret.data) ? (snprintf(err, n, "out of memory"), -1) : 0;
  acr_buf jwt = ACR_BUF_INIT;
  const char *assertion;
  if (c->kind == ACR_CRED_CLIENT_CERTIFICATE) {
    if (acr_jwt_assertion(c->cert, c->client_id, url, time(NULL), c->send_chain, &jwt, err, n))
      return -1;
    assertion = jwt.data;
  } else {
    if (read_token_file(c, err, n))
      return -1;
    assertion = c->assertion.data;
  }
  int rc = add_param(body, "client_assertion_type", ASSERTION_TYPE) ||
           add_param(body, "client_assertion", assertion);
  acr_buf_wipe(&jwt);
  if (rc)
    snprintf(err, n, "out of memory");
  return rc ? -1 : 0;
}

static acr_auth_step entra_request(lua_State *L, acr_credential *c, const acr_token_target *t,
                                   const char *kind, acr_auth_request *req)
{
  char err[512] = "";
  if (token_url(c, t, &req->url, err, sizeof err) ||
      entra_form(c, t, req->url.data, &req->body, err, sizeof err)) {
    acr_auth_request_free(req);
    acr_auth_fail(L, kind, err);
    return ACR_AUTH_FAILED;
  }
  static const char *const headers[] = {"Content-Type", "application/x-www-form-urlencoded",
                                        "Accept", "application/json", NULL};
  memcpy(req->headers, headers, sizeof headers);
  req->method = "POST";
  note_host(c, req);
  return ACR_AUTH_REQUEST;
}

/* App Service's identity endpoint (IDENTITY_ENDPOINT + IDENTITY_HEADER), else IMDS. */
static acr_auth_step managed_request(lua_State *L, acr_credential *c, const acr_token_target *t,
                                     acr_auth_request *req)
{
  int app = c->identity_endpoint != NULL;
  acr_buf *url = &req->url;
  int rc = app ? acr_buf_adds(url, c->identity_endpoint)
               : (acr_buf_adds(url, c->imds_endpoint) ||
                  acr_buf_adds(url, "/metadata/identity/oauth2/token"));
  rc = rc || acr_url_set_param(url, "api-version", app ? "2019-08-01" : "2018-02-01") ||
       acr_url_set_param(url, "resource", t->resource);
  if (!rc && c->mi_id_param) {
    /* The two endpoints name a user-assigned identity's ids differently. */
    const char *p = c->mi_id_param;
    if (!strcmp(p, "object_id"))
      p = app ? "principal_id" : "object_id";
    else if (!strcmp(p, "resource_id"))
      p = app ? "mi_res_id" : "msi_res_id";
    rc = acr_url_set_param(url, p, c->mi_id_value);
  }
  if (rc) {
    acr_auth_request_free(req);
    acr_auth_fail(L, "managed identity", "out of memory");
    return ACR_AUTH_FAILED;
  }
  req->headers[0] = app ? "X-IDENTITY-HEADER" : "Metadata";
  req->headers[1] = app ? c->identity_header.data : "true";
  req->method = "GET";
  req->timeout = IMDS_TIMEOUT;
  note_host(c, req);
  return ACR_AUTH_REQUEST;
}

/* ---- reading answers ---- */

/* A token from text held in C: only one line, and not empty. */
int acr_auth_token_ok(const acr_json_want *w)
{
  const acr_buf *b = w->text;
  return w->kind == ACR_JSON_STRING && b->len && strcspn(b->data, "\r\n") == b->len;
}

/* {"access_token":…, "expires_in": N | "expires_on": epoch}, numbers or numeric strings
 * (IMDS and App Service send strings). Read in C, so the token is copied only into the
 * cache. 0, or -1 out of memory, -2 no usable token, -3 expired, -4 not JSON. */
static int take_token(acr_credential *c, const acr_token_target *t, const char *body,
                      size_t len)
{
  acr_buf tok = ACR_BUF_INIT;
  double in = -1, on = -1, now = (double)time(NULL);
  acr_json_want w[] = {{"access_token", &tok, NULL, ACR_JSON_ABSENT},
                       {"expires_in", NULL, &in, ACR_JSON_ABSENT},
                       {"expires_on", NULL, &on, ACR_JSON_ABSENT}};
  int rc = acr_json_scan(body, len, w, 3);
  if (rc >= 0) {
    double exp = on > 0 ? on : in > 0 ? now + in : now + 300;
    rc = acr_auth_token_ok(&w[0]) ? acr_credential_cache(c, t->scope, tok.data, tok.len, exp) : -2;
  } else {
    rc = rc == -2 ? -1 : -4;
  }
  acr_buf_wipe(&tok);
  return rc;
}

/* AADSTS codes lead Entra ID's error_description: keep the first one on its own. */
static void set_aadsts(lua_State *L, int err, const char *desc)
{
  const char *p = desc ? strstr(desc, "AADSTS") : NULL;
  if (!p)
    return;
  size_t n = 6 + strspn(p + 6, "0123456789");
  lua_pushlstring(L, p, n);
  lua_setfield(L, err, "aadsts");
}

static void push_http_failure(lua_State *L, const char *kind, long status, int hdr, int doc)
{
  const char *desc = NULL, *code = NULL;
  if (doc) {
    lua_getfield(L, doc, "error");
    code = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
    lua_getfield(L, doc, "error_description");
    if (lua_type(L, -1) != LUA_TSTRING) {
      lua_pop(L, 1);
      lua_getfield(L, doc, "message");  /* App Service */
    }
    desc = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
  }
  char msg[1024];
  snprintf(msg, sizeof msg, "%s%s%s", code ? code : "the token request failed",
           desc ? ": " : "", desc ? desc : "");
  acr_auth_fail(L, kind, msg);
  int err = lua_gettop(L);
  lua_pushinteger(L, status);
  lua_setfield(L, err, "status");
  if (code) {
    lua_pushstring(L, code);
    lua_setfield(L, err, "auth_error");
  }
  set_aadsts(L, err, desc);
  acr_error_set_ids(L, err, hdr);
}

static int imds_retryable(long status)
{
  return status == 404 || status == 410 || status == 429 || (status >= 500 && status < 600);
}

static const char *kind_label(acr_credential *c)
{
  switch (c->kind) {
  case ACR_CRED_CLIENT_SECRET: return "client secret";
  case ACR_CRED_CLIENT_CERTIFICATE: return "client certificate";
  case ACR_CRED_WORKLOAD_IDENTITY: return "workload identity";
  case ACR_CRED_MANAGED_IDENTITY: return "managed identity";
  case ACR_CRED_AZURE_CLI: return "Azure CLI";
  default: return "credential";
  }
}

/* A request that failed in transport is reported as what it is (ConnectionFailed,
 * TlsError, Timeout: the codes of ARM's transport failures), naming the host, not as a
 * refusal: AuthenticationFailed is for a token endpoint that answered. */
static acr_auth_outcome transport_failure(lua_State *L, acr_credential *c, const char *terr,
                                          const char *tmsg)
{
  /* No IMDS here (not an Azure host): default() moves on. A configured App Service
   * endpoint that does not answer is a failure of that identity. */
  c->unavailable = c->kind == ACR_CRED_MANAGED_IDENTITY && !c->identity_endpoint;
  static const char *const codes[] = {"ConnectionFailed", "TlsError", "Timeout",
                                      "ResponseTooLarge", NULL};
  static const char *const says[] = {"the connection to %s (token endpoint) failed",
                                     "TLS with %s (token endpoint) failed",
                                     "%s (token endpoint) did not answer in time",
                                     "the answer of %s (token endpoint) is too large"};
  int i = 0;
  while (codes[i] && strcmp(terr, codes[i]))
    i++;
  const char *host = c->token_host[0] ? c->token_host : "the token endpoint";
  char what[400], msg[700];
  snprintf(what, sizeof what, codes[i] ? says[i] : "the token request to %s failed", host);
  snprintf(msg, sizeof msg, "%s: %s: %s", kind_label(c), what, tmsg && *tmsg ? tmsg : terr);
  acr_error_push(L, codes[i] ? codes[i] : "TransportError", msg, 0);
  /* A refused or dropped connection, or a timeout, may work next time (the operation
   * retries them); a certificate will not. IMDS not answering is how a machine with no
   * IMDS shows: asked again, it would only stall the call (azure-identity asks once). */
  acr_error_set_retryable(L, -1, (i == 0 || i == 2) && !c->unavailable);
  return ACR_AUTH_ERROR;
}

/* IMDS and App Service are retried on 404, 410, 429 and 5xx (Retry-After wins). */
static int retry_managed(lua_State *L, acr_credential *c, const acr_auth_answer *a,
                         double *delay)
{
  if (c->kind != ACR_CRED_MANAGED_IDENTITY || !imds_retryable(a->status) ||
      ++c->attempt >= IMDS_MAX_TRIES)
    return 0;
  acr_retry_policy p = {IMDS_MAX_TRIES, 0.5, 10};
  unsigned seed = (unsigned)time(NULL);
  double ra = -1;
  if (a->hdr) {
    lua_getfield(L, a->hdr, "retry-after");
    ra = acr_retry_after(NULL, NULL, lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  *delay = ra >= 0 && ra <= 60 ? ra : acr_retry_backoff(&p, c->attempt, &seed);
  return 1;
}

/* A refusal: the error document (it holds no token) is decoded for its fields. */
static acr_auth_outcome refused(lua_State *L, acr_credential *c, const acr_auth_answer *a)
{
  int top = lua_gettop(L), doc = 0;
  c->attempt = 0;
  /* IMDS answers 400 when the machine has no such identity: not configured here. */
  c->unavailable = c->kind == ACR_CRED_MANAGED_IDENTITY && a->status == 400 &&
                   !c->identity_endpoint;
  if (a->body && a->status != 200 && acr_json_decode(L, a->body, a->body_len)) {
    if (lua_istable(L, -1))
      doc = lua_gettop(L);
  }
  push_http_failure(L, kind_label(c), a->status, a->hdr, doc);
  lua_insert(L, top + 1);
  lua_settop(L, top + 1);
  return ACR_AUTH_ERROR;
}

static acr_auth_outcome feed_one(lua_State *L, acr_credential *c, const acr_token_target *t,
                                 const acr_auth_answer *a, double *delay)
{
  c->unavailable = 0;
  if (a->terr)
    return transport_failure(L, c, a->terr, a->tmsg);
  int rc = a->status == 200 && a->body ? take_token(c, t, a->body, a->body_len) : -4;
  if (rc == 0) {
    c->attempt = 0;
    return ACR_AUTH_OK;
  }
  if (rc != -4) {
    acr_auth_fail(L, kind_label(c), rc == -2 ? "the token response has no usable access_token"
                           : rc == -3 ? ACR_EXPIRED_ON_ARRIVAL : "out of memory");
    return ACR_AUTH_ERROR;
  }
  if (retry_managed(L, c, a, delay))
    return ACR_AUTH_AGAIN;
  return refused(L, c, a);
}

/* ---- the chain ---- */

/* Pushes member i of the chain at idx. */
static acr_credential *member(lua_State *L, int idx, int i)
{
  acr_getuservalue(L, idx);
  lua_rawgeti(L, -1, i);
  lua_remove(L, -2);
  return acr_check_credential(L, -1);
}

/* Pushes the error of a chain none of whose members worked: each absent member's reason,
 * then each tried member's error, in order. */
static void push_chain_failure(lua_State *L, int idx)
{
  acr_getuservalue(L, idx);
  int uv = lua_gettop(L);
  lua_pushliteral(L, "default(): no credential worked");
  int msg = lua_gettop(L);
  static const char *const lists[] = {"unavailable", "errors"};
  for (int pass = 0; pass < 2; pass++) {
    lua_getfield(L, uv, lists[pass]);
    int n = (int)lua_rawlen(L, -1);
    for (int i = 1; i <= n; i++) {
      lua_pushvalue(L, msg);
      lua_pushliteral(L, "; ");
      lua_rawgeti(L, -3, i);
      lua_concat(L, 3);
      lua_replace(L, msg);
    }
    lua_pop(L, 1);
  }
  acr_error_push(L, "AuthenticationFailed", lua_tostring(L, msg), 0);
  lua_replace(L, uv);
  lua_settop(L, uv);
}

/* Records why member pos failed (the error on top, popped) and moves on; pushes the
 * combined error when none is left. Returns 1 when another member can be tried. */
static int chain_next(lua_State *L, int idx, acr_credential *c)
{
  acr_getuservalue(L, idx);
  lua_getfield(L, -1, "errors");
  lua_getfield(L, -3, "message");
  lua_rawseti(L, -2, (int)lua_rawlen(L, -2) + 1);
  lua_pop(L, 3);
  if (++c->chain_pos <= c->chain_len)
    return 1;
  push_chain_failure(L, idx);
  c->chain_pos = 1;   /* the next call starts over: an identity may appear later */
  acr_getuservalue(L, idx);
  lua_newtable(L);
  lua_setfield(L, -2, "errors");
  lua_pop(L, 1);
  return 0;
}

acr_auth_step acr_credential_request(lua_State *L, int idx, const acr_token_target *t,
                                     acr_auth_request *req)
{
  idx = lua_absindex(L, idx);
  acr_credential *c = acr_check_credential(L, idx);
  if (c->closed) {
    acr_error_push(L, "CredentialClosed", "the credential was closed", 0);
    return ACR_AUTH_FAILED;
  }
  switch (c->kind) {
  case ACR_CRED_STATIC:
    if (c->token.len)
      return ACR_AUTH_READY;
    acr_auth_fail(L, "static", "the credential is closed");
    return ACR_AUTH_FAILED;
  case ACR_CRED_CLIENT_SECRET:
  case ACR_CRED_CLIENT_CERTIFICATE:
  case ACR_CRED_WORKLOAD_IDENTITY:
    return entra_request(L, c, t, kind_label(c), req);
  case ACR_CRED_MANAGED_IDENTITY:
    return managed_request(L, c, t, req);
  case ACR_CRED_AZURE_CLI:
    return acr_auth_cli_fetch(L, c, t);
  case ACR_CRED_CHAIN:
    break;
  }
  for (;;) {
    int i = c->chain_chosen ? c->chain_chosen : c->chain_pos;
    if (i < 1 || i > c->chain_len) {
      push_chain_failure(L, idx);
      return ACR_AUTH_FAILED;
    }
    acr_credential *m = member(L, idx, i);
    m->unavailable = 0;
    acr_auth_step st = acr_credential_request(L, -1, t, req);
    lua_remove(L, st == ACR_AUTH_FAILED ? -2 : -1);   /* the member; an error stays */
    if (st == ACR_AUTH_READY && !c->chain_chosen)
      c->chain_chosen = i;
    /* As in acr_credential_feed: a configured member that fails before sending anything
     * (an unreadable federated token file, a certificate that cannot sign) ends the
     * chain; only one that is not available here (no az, az not logged in) moves on. */
    if (st != ACR_AUTH_FAILED || c->chain_chosen || !m->unavailable)
      return st;
    if (!chain_next(L, idx, c))
      return ACR_AUTH_FAILED;
  }
}

acr_auth_outcome acr_credential_feed(lua_State *L, int idx, const acr_token_target *t,
                                     const acr_auth_answer *answer, double *delay)
{
  acr_auth_answer a = *answer;
  idx = lua_absindex(L, idx);
  a.hdr = a.hdr ? lua_absindex(L, a.hdr) : 0;
  *delay = 0;
  acr_credential *c = acr_check_credential(L, idx);
  if (c->closed) {
    acr_error_push(L, "CredentialClosed", "the credential was closed", 0);
    return ACR_AUTH_ERROR;
  }
  if (c->kind != ACR_CRED_CHAIN)
    return feed_one(L, c, t, &a, delay);
  int i = c->chain_chosen ? c->chain_chosen : c->chain_pos;
  acr_credential *m = member(L, idx, i);
  acr_auth_outcome out = feed_one(L, m, t, &a, delay);
  lua_remove(L, out == ACR_AUTH_ERROR ? -2 : -1);
  if (out == ACR_AUTH_OK && !c->chain_chosen)
    c->chain_chosen = i;
  /* A member that is configured and was refused (by Entra ID, App Service, IMDS) ends
   * the chain with its error, as azure-identity's chains do: only a member that is not
   * available here lets the next one try. The next call starts with it again. */
  if (out != ACR_AUTH_ERROR || c->chain_chosen || !m->unavailable)
    return out;
  return chain_next(L, idx, c) ? ACR_AUTH_AGAIN : ACR_AUTH_ERROR;
}
