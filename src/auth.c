/* acr.credential.*: credential objects, their options and environment variables (the
 * names azure-identity reads), the token cache with its refresh window, and default()'s
 * chain. How each kind asks for a token is in auth_flow.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "cert.h"
#include "error.h"
#include "luax.h"

acr_credential *acr_check_credential(lua_State *L, int idx)
{
  return (acr_credential *)acr_check_udata(L, idx, ACR_CREDENTIAL_MT, "acr.Credential");
}

static void cred_free(acr_credential *c)
{
  acr_buf_wipe(&c->token);
  acr_buf_wipe(&c->secret);
  acr_buf_wipe(&c->assertion);
  acr_buf_wipe(&c->identity_header);
  acr_cert_free(c->cert);
  c->cert = NULL;
  char **strs[] = {&c->scope, &c->tenant_id, &c->client_id, &c->authority_host,
                   &c->token_file, &c->mi_id_param, &c->mi_id_value, &c->identity_endpoint,
                   &c->imds_endpoint, &c->az_path};
  for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
    free(*strs[i]);
    *strs[i] = NULL;
  }
  c->closed = 1;
}

static int cred_gc(lua_State *L)
{
  cred_free(acr_check_credential(L, 1));
  return 0;
}

/* ---- the cache ---- */

/* The member of a chain that answers for it now, pushed; or the credential itself. */
static acr_credential *resolve(lua_State *L, int idx)
{
  acr_credential *c = acr_check_credential(L, idx);
  if (c->kind != ACR_CRED_CHAIN || c->chain_chosen < 1) {
    lua_pushvalue(L, idx);
    return c;
  }
  acr_getuservalue(L, idx);
  lua_rawgeti(L, -1, c->chain_chosen);
  lua_remove(L, -2);
  return acr_check_credential(L, -1);
}

/* The cached token if it is for scope and now is before `until` (refresh_on or
 * expires_on). */
/* s after a failed refresh during which the still valid token is used as it is */
#define REFRESH_BACKOFF 30.0

static const char *cached(acr_credential *c, const char *scope, int fresh)
{
  if (c->closed || !c->token.len)
    return NULL;
  if (c->kind == ACR_CRED_STATIC)
    return c->token.data;
  if (!c->scope || !scope || strcmp(c->scope, scope))
    return NULL;
  double now = (double)time(NULL);
  int backing_off = now - c->refresh_failed_at < REFRESH_BACKOFF;
  double until = fresh && !backing_off ? c->refresh_on : c->expires_on;
  if (now >= until)
    return NULL;
  return c->token.data;
}

void acr_credential_refresh_failed(lua_State *L, int idx)
{
  acr_credential *c = resolve(L, idx);
  c->refresh_failed_at = (double)time(NULL);
  lua_pop(L, 1);
}

const char *acr_credential_token(lua_State *L, int idx, const char *scope)
{
  acr_credential *c = resolve(L, idx);
  const char *t = cached(c, scope, 1);
  lua_pop(L, 1);  /* the credential stays referenced by the chain or the caller */
  return t;
}

const char *acr_credential_valid_token(lua_State *L, int idx, const char *scope)
{
  acr_credential *c = resolve(L, idx);
  const char *t = cached(c, scope, 0);
  lua_pop(L, 1);
  return t;
}

int acr_credential_can_refresh(lua_State *L, int idx)
{
  return acr_check_credential(L, idx)->kind != ACR_CRED_STATIC;
}

void acr_credential_invalidate(lua_State *L, int idx)
{
  acr_credential *c = resolve(L, idx);
  if (c->kind != ACR_CRED_STATIC)
    acr_buf_wipe(&c->token);
  c->refresh_failed_at = 0;
  lua_pop(L, 1);
}

unsigned long acr_credential_generation(lua_State *L, int idx)
{
  acr_credential *c = resolve(L, idx);
  unsigned long g = c->generation;
  lua_pop(L, 1);
  return g;
}

/* The token is used until refresh_on: 5 minutes before expiry, or half-way through a
 * shorter life (as azure-identity's refresh_on), so a short-lived token fetched just now
 * is used rather than fetched again and again. */
int acr_credential_cache(acr_credential *c, const char *scope, const char *tok, size_t len,
                         double expires_on)
{
  double life = expires_on - (double)time(NULL);
  if (!(life > 0))
    return -3;   /* expired on arrival: caching it would only make the caller ask again */
  double margin = life / 2 < 300 ? life / 2 : 300;
  char *sc = strdup(scope);
  if (!sc)
    return -1;
  acr_buf_wipe(&c->token);
  if (acr_buf_add(&c->token, tok, len) != 0) {
    free(sc);
    return -1;
  }
  free(c->scope);
  c->scope = sc;
  c->generation++;
  c->refresh_failed_at = 0;
  c->expires_on = expires_on;
  c->refresh_on = expires_on - (margin > 0 ? margin : 0);
  return 0;
}

/* ---- construction ---- */

static acr_credential *new_cred(lua_State *L, acr_credential_kind kind)
{
  acr_credential *c = (acr_credential *)acr_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  c->closed = 1;  /* inert until complete, so __gc after an error frees what was set */
  luaL_setmetatable(L, ACR_CREDENTIAL_MT);
  lua_newtable(L);
  acr_setuservalue(L, -2);
  c->kind = kind;
  return c;
}

static void oom(lua_State *L)
{
  luaL_error(L, "acr.credential: out of memory");
}

static char *dupz(lua_State *L, const char *s)
{
  if (!s)
    return NULL;
  char *d = strdup(s);
  if (!d)
    oom(L);
  return d;
}

/* Options of a constructor's one argument (luax.h): misuse raises, naming the option. */
static const char *opt_str(lua_State *L, int t, const char *k)
{
  return acr_opt_string(L, t, 1, k, ACR_OPT_NONEMPTY);
}

static const char *req_str(lua_State *L, int t, const char *k)
{
  return acr_opt_string(L, t, 1, k, ACR_OPT_NONEMPTY | ACR_OPT_REQUIRED);
}

static const char *env(const char *name)
{
  const char *v = getenv(name);
  return v && *v ? v : NULL;
}

/* `nil, err` for a credential that cannot work as configured. */
static int unavailable(lua_State *L, const char *fn, const char *what)
{
  lua_pushfstring(L, "%s: %s", fn, what);
  acr_error_push(L, "CredentialUnavailable", lua_tostring(L, -1), 0);
  return acr_error_return(L);
}

static void set_identity(lua_State *L, acr_credential *c, const char *tenant,
                         const char *client, const char *authority)
{
  c->tenant_id = dupz(L, tenant);
  c->client_id = dupz(L, client);
  c->authority_host = dupz(L, authority ? authority : env("AZURE_AUTHORITY_HOST"));
}

static int bad_tenant(const char *tenant)
{
  return tenant && strspn(tenant, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                  "0123456789-.") != strlen(tenant);
}

/* A tenant_id option that is not a tenant id is misuse. */
static void check_tenant(lua_State *L, const char *tenant)
{
  if (bad_tenant(tenant))
    acr_opterror(L, 1, "tenant_id", "is not a tenant id");
}

/* syntax: cred = acr.credential.static(token) */
static int credential_static(lua_State *L)
{
  if (lua_type(L, 1) != LUA_TSTRING)
    acr_typeerror(L, 1, "string");
  size_t len;
  const char *tok = lua_tolstring(L, 1, &len);
  if (len == 0)
    acr_argerror(L, 1, "token must not be empty");
  if (!acr_is_cstring(L, 1))
    acr_argerror(L, 1, "token must not contain a NUL byte");
  if (strcspn(tok, "\r\n") != len)
    acr_argerror(L, 1, "token must be one line");
  acr_credential *c = new_cred(L, ACR_CRED_STATIC);
  if (acr_buf_add(&c->token, tok, len) != 0)
    oom(L);
  c->closed = 0;
  return 1;
}

/* syntax: cred = acr.credential.client_secret{tenant_id=, client_id=, client_secret=, authority_host=?} */
static int credential_client_secret(lua_State *L)
{
  static const char *const f[] = {"tenant_id", "client_id", "client_secret", "authority_host",
                                  NULL};
  acr_check_options(L, 1, 0, f);
  const char *tenant = req_str(L, 1, "tenant_id");
  const char *client = req_str(L, 1, "client_id");
  const char *secret = req_str(L, 1, "client_secret");
  const char *authority = opt_str(L, 1, "authority_host");
  check_tenant(L, tenant);
  acr_credential *c = new_cred(L, ACR_CRED_CLIENT_SECRET);
  set_identity(L, c, tenant, client, authority);
  if (acr_buf_adds(&c->secret, secret) != 0)
    oom(L);
  c->closed = 0;
  return 1;
}

/* Loads the certificate; pushes the credential, or nil and an error. */
static int make_certificate(lua_State *L, const char *tenant, const char *client,
                            const char *path, const char *password, int chain,
                            const char *authority)
{
  char err[512] = "";
  struct acr_cert *cert = acr_cert_load(path, password, err, sizeof err);
  if (!cert) {
    acr_error_push(L, "InvalidCertificate", err, 0);
    return acr_error_return(L);
  }
  acr_credential *c = new_cred(L, ACR_CRED_CLIENT_CERTIFICATE);
  c->cert = cert;
  c->send_chain = chain;
  set_identity(L, c, tenant, client, authority);
  c->closed = 0;
  return 1;
}

/* syntax: cred, err = acr.credential.client_certificate{tenant_id=, client_id=, certificate_path=, password=?, send_certificate_chain=?, authority_host=?} */
static int credential_client_certificate(lua_State *L)
{
  static const char *const f[] = {"tenant_id", "client_id", "certificate_path", "password",
                                  "send_certificate_chain", "authority_host", NULL};
  acr_check_options(L, 1, 0, f);
  const char *tenant = req_str(L, 1, "tenant_id");
  const char *client = req_str(L, 1, "client_id");
  const char *path = req_str(L, 1, "certificate_path");
  const char *password = opt_str(L, 1, "password");
  const char *authority = opt_str(L, 1, "authority_host");
  int chain = acr_opt_bool(L, 1, 1, "send_certificate_chain", 0);
  check_tenant(L, tenant);
  return make_certificate(L, tenant, client, path, password, chain, authority);
}

/* syntax: cred, err = acr.credential.workload_identity{tenant_id=?, client_id=?, token_file=?, authority_host=?} */
static int credential_workload_identity(lua_State *L)
{
  static const char *const f[] = {"tenant_id", "client_id", "token_file", "authority_host",
                                  NULL};
  const char *fn = "workload_identity";
  int t = acr_check_options(L, 1, 1, f);
  const char *tenant = opt_str(L, t, "tenant_id");
  const char *client = opt_str(L, t, "client_id");
  const char *file = opt_str(L, t, "token_file");
  const char *authority = opt_str(L, t, "authority_host");
  check_tenant(L, tenant);
  tenant = tenant ? tenant : env("AZURE_TENANT_ID");
  client = client ? client : env("AZURE_CLIENT_ID");
  file = file ? file : env("AZURE_FEDERATED_TOKEN_FILE");
  if (!file)
    return unavailable(L, fn, "AZURE_FEDERATED_TOKEN_FILE is not set");
  if (!tenant)
    return unavailable(L, fn, "AZURE_TENANT_ID is not set");
  if (!client)
    return unavailable(L, fn, "AZURE_CLIENT_ID is not set");
  if (bad_tenant(tenant))
    return unavailable(L, fn, "AZURE_TENANT_ID is not a tenant id");
  acr_credential *c = new_cred(L, ACR_CRED_WORKLOAD_IDENTITY);
  set_identity(L, c, tenant, client, authority);
  c->token_file = dupz(L, file);
  c->closed = 0;
  return 1;
}

/* syntax: cred = acr.credential.managed_identity{client_id=? | object_id=? | resource_id=?, imds_endpoint=?} */
static int credential_managed_identity(lua_State *L)
{
  static const char *const f[] = {"client_id", "object_id", "resource_id", "imds_endpoint",
                                  NULL};
  int t = acr_check_options(L, 1, 1, f);
  const char *ids[3] = {opt_str(L, t, "client_id"), opt_str(L, t, "object_id"),
                        opt_str(L, t, "resource_id")};
  static const char *const params[3] = {"client_id", "object_id", "resource_id"};
  int which = -1;
  for (int i = 0; i < 3; i++) {
    if (ids[i] && which >= 0)
      acr_opterror(L, 1, params[i], "may not be given with option '%s' (give one of "
                   "client_id, object_id, resource_id)", params[which]);
    if (ids[i])
      which = i;
  }
  const char *imds = opt_str(L, t, "imds_endpoint");
  acr_credential *c = new_cred(L, ACR_CRED_MANAGED_IDENTITY);
  if (which >= 0) {
    c->mi_id_param = dupz(L, params[which]);
    c->mi_id_value = dupz(L, ids[which]);
  }
  const char *ep = env("IDENTITY_ENDPOINT"), *hdr = env("IDENTITY_HEADER");
  if (ep && hdr) {
    c->identity_endpoint = dupz(L, ep);
    if (acr_buf_adds(&c->identity_header, hdr) != 0)
      oom(L);
  }
  /* ACR_IMDS_ENDPOINT: our own override, so tests can point IMDS at a local server. */
  imds = imds ? imds : env("ACR_IMDS_ENDPOINT");
  c->imds_endpoint = dupz(L, imds ? imds : "http://169.254.169.254");
  c->closed = 0;
  return 1;
}

/* syntax: cred = acr.credential.azure_cli{tenant_id=?, timeout=?, az=?} */
static int credential_azure_cli(lua_State *L)
{
  static const char *const f[] = {"tenant_id", "timeout", "az", NULL};
  int t = acr_check_options(L, 1, 1, f);
  const char *tenant = opt_str(L, t, "tenant_id");
  const char *az = opt_str(L, t, "az");
  double timeout = acr_opt_seconds(L, t, 1, "timeout", 10, 0, 1);
  check_tenant(L, tenant);
  acr_credential *c = new_cred(L, ACR_CRED_AZURE_CLI);
  c->tenant_id = dupz(L, tenant);
  c->az_path = dupz(L, az ? az : "az");
  c->cli_timeout = timeout;
  c->closed = 0;
  return 1;
}

/* syntax: cred, err = acr.credential.environment() -- AZURE_TENANT_ID, AZURE_CLIENT_ID and AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH (+ AZURE_CLIENT_CERTIFICATE_PASSWORD), AZURE_AUTHORITY_HOST */
static int credential_environment(lua_State *L)
{
  const char *fn = "environment";
  const char *tenant = env("AZURE_TENANT_ID"), *client = env("AZURE_CLIENT_ID");
  const char *secret = env("AZURE_CLIENT_SECRET");
  const char *cert = env("AZURE_CLIENT_CERTIFICATE_PATH");
  if (!tenant)
    return unavailable(L, fn, "AZURE_TENANT_ID is not set");
  if (!client)
    return unavailable(L, fn, "AZURE_CLIENT_ID is not set");
  if (!secret && !cert)
    return unavailable(L, fn, "neither AZURE_CLIENT_SECRET nor AZURE_CLIENT_CERTIFICATE_PATH is set");
  if (bad_tenant(tenant))
    return unavailable(L, fn, "AZURE_TENANT_ID is not a tenant id");
  if (!secret)
    return make_certificate(L, tenant, client, cert, env("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
                            0, NULL);
  acr_credential *c = new_cred(L, ACR_CRED_CLIENT_SECRET);
  set_identity(L, c, tenant, client, NULL);
  if (acr_buf_adds(&c->secret, secret) != 0)
    oom(L);
  c->closed = 0;
  return 1;
}

/* Adds the credential made by fn to the chain being built (members at m, their labels
 * at l), or the reason it could not be made to r. */
static void chain_try(lua_State *L, int m, int l, int r, lua_CFunction fn, const char *label)
{
  lua_pushcfunction(L, fn);
  lua_call(L, 0, 2);
  if (!lua_isnil(L, -2)) {
    lua_pop(L, 1);
    int n = (int)lua_rawlen(L, m) + 1;
    lua_rawseti(L, m, n);
    lua_pushstring(L, label);
    lua_rawseti(L, l, n);
    return;
  }
  lua_getfield(L, -1, "message");
  lua_rawseti(L, r, (int)lua_rawlen(L, r) + 1);
  lua_pop(L, 2);
}

/* Which members default() may use: exclude_* options leave one out, as azure-identity's
 * DefaultAzureCredential does. */
static int default_excludes(lua_State *L, int which[4])
{
  static const char *const f[] = {"exclude_environment", "exclude_workload_identity",
                                  "exclude_managed_identity", "exclude_azure_cli", NULL};
  int t = acr_check_options(L, 1, 1, f);
  for (int i = 0; i < 4; i++)
    which[i] = !acr_opt_bool(L, t, 1, f[i], 0);
  return 0;
}

/* syntax: cred = acr.credential.default{exclude_environment=?, exclude_workload_identity=?, exclude_managed_identity=?, exclude_azure_cli=?} -- environment, workload identity, managed identity, Azure CLI */
static int credential_default(lua_State *L)
{
  static const struct { lua_CFunction make; const char *label; } members[] = {
    {credential_environment, "environment"},
    {credential_workload_identity, "workload identity"},
    {credential_managed_identity, "managed identity"},
    {credential_azure_cli, "Azure CLI"},
  };
  int use[4];
  default_excludes(L, use);
  lua_settop(L, 0);
  acr_credential *c = new_cred(L, ACR_CRED_CHAIN);  /* 1 */
  lua_newtable(L);                                   /* 2: members */
  lua_newtable(L);                                   /* 3: their labels */
  lua_newtable(L);                                   /* 4: why others are absent */
  for (int i = 0; i < 4; i++)
    if (use[i])
      chain_try(L, 2, 3, 4, members[i].make, members[i].label);
  /* uservalue: members 1..n, `labels`, `unavailable` (why the others were left out)
   * and `errors` (why members failed, filled while fetching). */
  acr_getuservalue(L, 1);
  int n = (int)lua_rawlen(L, 2);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, 2, i);
    lua_rawseti(L, -2, i);
  }
  lua_pushvalue(L, 3);
  lua_setfield(L, -2, "labels");
  lua_pushvalue(L, 4);
  lua_setfield(L, -2, "unavailable");
  lua_newtable(L);
  lua_setfield(L, -2, "errors");
  lua_pop(L, 1);
  c->chain_len = n;
  c->chain_pos = 1;
  c->chain_chosen = 0;
  c->closed = 0;
  lua_settop(L, 1);
  return 1;
}

static const char *kind_name(acr_credential_kind k)
{
  static const char *const names[] = {"static", "client_secret", "client_certificate",
                                      "workload_identity", "managed_identity", "azure_cli",
                                      "default"};
  return names[k];
}

/* Shows the kind and public identifiers; never a secret. */
static int cred_tostring(lua_State *L)
{
  acr_credential *c = acr_check_credential(L, 1);
  if (c->client_id)
    lua_pushfstring(L, "acr.Credential(%s, client %s)", kind_name(c->kind), c->client_id);
  else
    lua_pushfstring(L, "acr.Credential(%s)", kind_name(c->kind));
  return 1;
}

/* syntax: kind = cred:kind() -- "static", "client_secret", …, "default" */
static int cred_kind(lua_State *L)
{
  lua_pushstring(L, kind_name(acr_check_credential(L, 1)->kind));
  return 1;
}

/* syntax: seconds = cred:expires_in() -- of the cached token; nil when none */
static int cred_expires_in(lua_State *L)
{
  acr_credential *c = resolve(L, 1);
  if (!c->token.len || c->expires_on <= 0)
    lua_pushnil(L);
  else
    lua_pushnumber(L, c->expires_on - (double)time(NULL));
  return 1;
}

/* syntax: bool = cred:may_block() -- whether getting a token can run a program (the Azure
 * CLI) and so block the calling thread; an nginx worker must not use such a credential */
static int cred_may_block(lua_State *L)
{
  acr_credential *c = acr_check_credential(L, 1);
  int r = c->kind == ACR_CRED_AZURE_CLI;
  if (c->kind == ACR_CRED_CHAIN) {
    acr_getuservalue(L, 1);
    for (int i = 1; i <= c->chain_len && !r; i++) {
      lua_rawgeti(L, -1, i);
      r = acr_check_credential(L, -1)->kind == ACR_CRED_AZURE_CLI;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  lua_pushboolean(L, r);
  return 1;
}

/* syntax: cred:close() -- wipes whatever secret the credential holds */
static int cred_close(lua_State *L)
{
  cred_free(acr_check_credential(L, 1));
  return 0;
}

int acr_auth_open(lua_State *L)
{
  static const luaL_Reg methods[] = {
    {"kind", cred_kind}, {"expires_in", cred_expires_in}, {"may_block", cred_may_block},
    {"close", cred_close}, {NULL, NULL}
  };
  static const luaL_Reg fns[] = {
    {"static", credential_static},
    {"client_secret", credential_client_secret},
    {"client_certificate", credential_client_certificate},
    {"workload_identity", credential_workload_identity},
    {"managed_identity", credential_managed_identity},
    {"azure_cli", credential_azure_cli},
    {"environment", credential_environment},
    {"default", credential_default},
    {NULL, NULL}
  };
  acr_newmetatable(L, ACR_CREDENTIAL_MT);
  lua_pushcfunction(L, cred_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, cred_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  acr_setfuncs(L, methods, "");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  lua_newtable(L);
  acr_setfuncs(L, fns, "acr.credential.");
  lua_setfield(L, -2, "credential");
  return 0;
}
