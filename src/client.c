/* acr.client{…}: configuration checked once, endpoints, URL building and the name
 * rules of the OpenAPI document. Per-request work that can be done once is done here. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <openssl/rand.h>

#include "auth.h"
#include "client.h"
#include "driver.h"
#include "pool.h"
#include "luax.h"
#include "names.h"
#include "version.h"
#if defined(LUA_JITLIBNAME)
#include <luajit.h>
#define ACR_LUA_NAME LUAJIT_VERSION
#else
#define ACR_LUA_NAME LUA_VERSION
#endif

#define DEFAULT_API_VERSION "2019-05-01-preview"

static const struct cloud {
  const char *name, *arm, *authority;
} clouds[] = {
  {"AzureCloud", "https://management.azure.com", "https://login.microsoftonline.com"},
  {"AzureChinaCloud", "https://management.chinacloudapi.cn", "https://login.chinacloudapi.cn"},
  {"AzureUSGovernment", "https://management.usgovcloudapi.net", "https://login.microsoftonline.us"},
  {NULL, NULL, NULL}
};

static const char *const options[] = {
  "subscription_id", "resource_group", "registry", "credential", "cloud", "endpoint",
  "authority_host", "api_version", "timeout", "connect_timeout", "retry", "poll_interval",
  "lro_timeout", "ca_file", "user_agent", "logger", "audience", "max_connections", NULL
};

#define DEFAULT_MAX_CONNECTIONS 128
#define MAX_MAX_CONNECTIONS 1024

acr_client *acr_check_client(lua_State *L, int idx)
{
  acr_client *c = (acr_client *)acr_check_udata(L, idx, ACR_CLIENT_MT, "acr.Client");
  if (c->closed)
    acr_argerror(L, idx, "the client is closed");
  return c;
}

static void client_free(acr_client *c)
{
  acr_driver_free(c);
  free(c->endpoint);
  free(c->registry_path);
  free(c->api_version);
  free(c->user_agent);
  free(c->scope);
  free(c->resource);
  free(c->authority);
  c->endpoint = c->registry_path = c->api_version = c->user_agent = NULL;
  c->scope = c->resource = c->authority = NULL;
  c->closed = 1;
}

/* syntax: client:close()  -- idempotent; also __close. It ends the connection; the
 * configuration stays until the client is collected, since operations it started may
 * still read it while they fail with ClientClosed. */
static int client_close(lua_State *L)
{
  acr_client *c = (acr_client *)acr_check_udata(L, 1, ACR_CLIENT_MT, "acr.Client");
  c->closed = 1;
  acr_driver_close(L, 1);
  return 0;
}

static int client_gc(lua_State *L)
{
  client_free((acr_client *)luaL_checkudata(L, 1, ACR_CLIENT_MT));
  return 0;
}

/* ---- option checking: misuse raises, naming the option (luax.h) ---- */

#define OPTS 1   /* acr.client's one argument */

static const char *opt_string(lua_State *L, int t, const char *k, int required)
{
  return acr_opt_string(L, t, OPTS, k, ACR_OPT_NONEMPTY | (required ? ACR_OPT_REQUIRED : 0));
}

static double opt_number(lua_State *L, int t, const char *k, double dflt, double min)
{
  return acr_opt_seconds(L, t, OPTS, k, dflt, min, 0);
}

static void check_retry(lua_State *L, int t, acr_retry_policy *p)
{
  acr_retry_policy dflt = ACR_RETRY_DEFAULT;
  *p = dflt;
  lua_getfield(L, t, "retry");
  int r = lua_gettop(L);
  if (lua_type(L, r) == LUA_TNUMBER) {
    double n = lua_tonumber(L, r);
    if (!(n >= 0 && n <= 20) || n != (double)(int)n)
      acr_opterror(L, OPTS, "retry", "must be a whole number of retries from 0 to 20");
    p->max_retries = (int)n;
  } else if (lua_type(L, r) == LUA_TTABLE) {
    static const char *const fields[] = {"max_retries", "base_delay", "max_delay", NULL};
    acr_check_suboptions(L, OPTS, r, "retry", fields);
    p->max_retries = (int)acr_opt_count(L, r, OPTS, "retry.max_retries", p->max_retries, 0, 20);
    p->base_delay = opt_number(L, r, "retry.base_delay", p->base_delay, 0);
    p->max_delay = opt_number(L, r, "retry.max_delay", p->max_delay, 0);
  } else if (!lua_isnil(L, r)) {
    acr_opterror(L, OPTS, "retry", "must be a number or a table, got %s", luaL_typename(L, r));
  }
  lua_pop(L, 1);
}

/* The rules are names.h's, shared with acr._valid_name. */
static void check_names(lua_State *L, const char *rg, const char *registry)
{
  if (!acr_registry_name_valid(registry, strlen(registry)))
    acr_opterror(L, OPTS, "registry", "must be 5 to 50 letters and digits");
  if (!acr_resource_group_valid(rg, strlen(rg)))
    acr_opterror(L, OPTS, "resource_group", "is not a valid resource group name "
                  "(1 to 90 letters, digits, '-', '_', '.', '(' and ')', not ending in '.')");
}

/* scheme://host[:port][/] and nothing else: the registry path is appended to it, so a
 * path, query or fragment would build wrong URLs. Called once acr_url_origin has read
 * it, which refuses user info, '%', '\\' and anything but printable ASCII. */
static int endpoint_is_origin(const char *ep)
{
  const char *p = strstr(ep, "://");
  if (!p)
    return 0;
  p += 3;
  p += strcspn(p, "/?#");
  return strspn(p, "/") == strlen(p);
}

/* Picks the ARM endpoint: endpoint= wins, else the cloud's; checks it may carry a token.
 * *authority gets the cloud's Entra ID host. */
static const char *check_endpoint(lua_State *L, int t, acr_origin *o, const char **authority)
{
  *authority = clouds[0].authority;
  const char *cloud = opt_string(L, t, "cloud", 0);
  const char *ep = opt_string(L, t, "endpoint", 0);
  if (cloud && ep)
    acr_opterror(L, OPTS, "endpoint", "may not be given with option 'cloud' (give one)");
  if (!ep) {
    int i = 0;
    if (!cloud)
      cloud = "AzureCloud";
    while (clouds[i].name && strcmp(clouds[i].name, cloud))
      i++;
    if (!clouds[i].name)
      acr_opterror(L, OPTS, "cloud", "must be AzureCloud, AzureChinaCloud or "
                   "AzureUSGovernment, not '%s'", cloud);
    ep = clouds[i].arm;
    *authority = clouds[i].authority;
  }
  if (acr_url_origin(ep, o) != 0)
    acr_opterror(L, OPTS, "endpoint", "is not an http(s) URL");
  if (!endpoint_is_origin(ep))
    acr_opterror(L, OPTS, "endpoint", "must be scheme://host[:port] only "
                  "(no path, query, fragment or userinfo)");
  if (!strcmp(o->scheme, "http") && !acr_origin_is_loopback(o))
    acr_opterror(L, OPTS, "endpoint", "must be https (http only on loopback)");
  return ep;
}

static char *dup_trimmed(const char *s)
{
  size_t n = strlen(s);
  while (n && s[n - 1] == '/')
    n--;
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = '\0';
  }
  return d;
}

/* The endpoint as every URL starts: scheme://host[:port] in url.c's canonical form, so
 * that what is sent is what the origin check read. */
static char *origin_string(const acr_origin *o)
{
  acr_buf b = ACR_BUF_INIT;
  if (acr_origin_format(o, &b) != 0) {
    acr_buf_free(&b);
    return NULL;
  }
  return b.data;
}

static char *make_registry_path(const char *sub, const char *rg, const char *reg)
{
  size_t len = strlen(sub) + strlen(rg) + strlen(reg) + 96;
  char *p = malloc(len);
  if (p)
    snprintf(p, len, "/subscriptions/%s/resourceGroups/%s/providers/"
                     "Microsoft.ContainerRegistry/registries/%s", sub, rg, reg);
  return p;
}

static char *make_user_agent(const char *prefix)
{
  char ua[256];
  snprintf(ua, sizeof ua, "%s%slua-acr/%s (%s; %s)", prefix ? prefix : "", prefix ? " " : "",
           ACR_VERSION, ACR_LUA_NAME, acr_http_version());
  return strdup(ua);
}

/* A subscription id is a GUID: letters, digits and '-' (not enforced as 8-4-4-4-12,
 * for emulators and recordings). */
static void check_subscription(lua_State *L, const char *sub)
{
  size_t n = strlen(sub);
  if (n > 64 || strspn(sub, ACR_ALNUM "-") != n)
    acr_opterror(L, OPTS, "subscription_id", "is not a valid subscription id");
}

/* Keeps the Lua-side values (credential, logger, authority) in the uservalue table. */
static void set_uservalue(lua_State *L, int t, int ud)
{
  lua_createtable(L, 0, 3);
  lua_getfield(L, t, "credential");
  if (!luaL_testudata(L, -1, ACR_CREDENTIAL_MT))
    acr_opterror(L, OPTS, "credential", "must be an acr.Credential (e.g. "
                 "acr.credential.static(token)), got %s", luaL_typename(L, -1));
  lua_setfield(L, -2, "credential");
  lua_getfield(L, t, "logger");
  if (!lua_isnil(L, -1) && !lua_isfunction(L, -1))
    acr_opterror(L, OPTS, "logger", "must be a function, got %s", luaL_typename(L, -1));
  lua_setfield(L, -2, "logger");
  lua_newtable(L);
  lua_setfield(L, -2, "inflight");   /* driver.c */
  lua_newtable(L);
  lua_createtable(L, 0, 1);
  lua_pushliteral(L, "k");
  lua_setfield(L, -2, "__mode");
  lua_setmetatable(L, -2);
  lua_setfield(L, -2, "active");
  acr_setuservalue(L, ud);
}

/* The token audience: audience=, else the endpoint (what ARM expects of a cloud). */
static void set_audience(lua_State *L, int t, acr_client *c, const char *ep,
                         const char *authority)
{
  const char *aud = opt_string(L, t, "audience", 0);
  const char *auth = opt_string(L, t, "authority_host", 0);
  c->resource = dup_trimmed(aud ? aud : ep);
  c->authority = dup_trimmed(auth ? auth : authority);
  if (!c->resource || !c->authority)
    luaL_error(L, "acr.client: out of memory");
  size_t n = strlen(c->resource) + sizeof "/.default";
  c->scope = malloc(n);
  if (!c->scope)
    luaL_error(L, "acr.client: out of memory");
  snprintf(c->scope, n, "%s/.default", c->resource);
}

static void fill_client(lua_State *L, int t, acr_client *c)
{
  const char *sub = opt_string(L, t, "subscription_id", 1);
  const char *rg = opt_string(L, t, "resource_group", 1);
  const char *reg = opt_string(L, t, "registry", 1);
  const char *apiv = opt_string(L, t, "api_version", 0);
  const char *ca = opt_string(L, t, "ca_file", 0);
  const char *uap = opt_string(L, t, "user_agent", 0);
  check_subscription(L, sub);
  check_names(L, rg, reg);
  if (apiv && !acr_api_version_valid(apiv))
    acr_opterror(L, OPTS, "api_version", "may contain only letters, digits, '.' "
                  "and '-' (e.g. " DEFAULT_API_VERSION ")");
  if (uap && !acr_is_one_line(uap))
    acr_opterror(L, OPTS, "user_agent", "must be one line of text (no CR, LF or "
                  "other control characters)");
  if (ca && access(ca, R_OK) != 0)
    acr_opterror(L, OPTS, "ca_file", "is not a readable file: %s", ca);
  c->timeout = opt_number(L, t, "timeout", 60, 0.001);
  double connect_timeout = opt_number(L, t, "connect_timeout", 10, 0.001);
  c->poll_interval = opt_number(L, t, "poll_interval", 5, 0);
  c->lro_timeout = opt_number(L, t, "lro_timeout", 0, 0);
  check_retry(L, t, &c->retry);
  acr_pacer_init(&c->pacer);
  c->due_dirty = 1;
  c->max_connections = acr_opt_count(L, t, OPTS, "max_connections", DEFAULT_MAX_CONNECTIONS,
                                     1, MAX_MAX_CONNECTIONS);
  c->endpoint = origin_string(&c->origin);
  c->registry_path = make_registry_path(sub, rg, reg);
  c->api_version = strdup(apiv ? apiv : DEFAULT_API_VERSION);
  c->user_agent = make_user_agent(uap);
  if (!c->endpoint || !c->registry_path || !c->api_version || !c->user_agent)
    luaL_error(L, "acr.client: out of memory");
  if (RAND_bytes((unsigned char *)&c->seed, sizeof c->seed) != 1)
    c->seed = (unsigned)time(NULL);
  acr_http_options ho = {(long)(connect_timeout * 1000), (long)(c->timeout * 1000), ca,
                         c->user_agent, 0, NULL};
  char err[256] = "";
  c->pool = acr_pool_new(&ho, c->max_connections, err, sizeof err);
  if (!c->pool)
    luaL_error(L, "acr.client: cannot set up HTTP: %s", err);
}

/* syntax: client = acr.client{subscription_id=, resource_group=, registry=, credential=, …} */
static int client_new(lua_State *L)
{
  acr_check_options(L, OPTS, 0, options);
  acr_origin origin;
  const char *authority;
  const char *ep = check_endpoint(L, 1, &origin, &authority);
  acr_client *c = (acr_client *)acr_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  c->closed = 1;  /* closed until complete: __gc frees whatever was set */
  luaL_setmetatable(L, ACR_CLIENT_MT);
  int ud = lua_gettop(L);
  set_uservalue(L, 1, ud);
  c->origin = origin;
  fill_client(L, 1, c);
  set_audience(L, 1, c, ep, authority);
  c->closed = 0;
  return 1;
}

void acr_client_push_url(lua_State *L, acr_client *c, const char *collection, const char *name)
{
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, c->endpoint);
  luaL_addstring(&b, c->registry_path);
  luaL_addchar(&b, '/');
  luaL_addstring(&b, collection);
  if (name) {
    /* One path segment, escaped here, where every name meets a URL: a checked name has
     * nothing to escape, and nothing else can add a segment. */
    acr_buf seg = ACR_BUF_INIT;
    if (acr_url_escape(&seg, name, strlen(name)) != 0) {
      acr_buf_free(&seg);
      luaL_error(L, "out of memory");
    }
    luaL_addchar(&b, '/');
    luaL_addlstring(&b, seg.data, seg.len);
    acr_buf_free(&seg);
  }
  luaL_addstring(&b, "?api-version=");
  luaL_addstring(&b, c->api_version);
  luaL_pushresult(&b);
}

void acr_client_push_field(lua_State *L, int cidx, const char *field)
{
  acr_getuservalue(L, cidx);
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, field);
    lua_remove(L, -2);
  } else {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

void acr_client_log(lua_State *L, int cidx, const char *level, const char *msg)
{
  acr_client_push_field(L, cidx, "logger");
  if (!lua_isfunction(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  lua_pushstring(L, level);
  lua_pushstring(L, msg);
  if (lua_pcall(L, 2, 0, 0) != 0)
    lua_pop(L, 1);  /* a broken logger must not break the call */
}

static void check_name(lua_State *L, int arg, const char *name, const char *what,
                       int is_token, const char *rule)
{
  /* arg holds the name itself: C would see it cut at a NUL byte. */
  if (lua_type(L, arg) == LUA_TSTRING && !acr_is_cstring(L, arg))
    acr_argerror(L, arg, "%s name must not contain a NUL byte", what);
  size_t n = strlen(name);
  if (n < 5 || n > 50)
    acr_argerror(L, arg, "%s name '%s' must be 5 to 50 characters", what, name);
  if (!acr_name_valid(name, n, is_token))
    acr_argerror(L, arg, "%s name '%s' may contain only %s", what, name, rule);
}

void acr_check_scope_map_name(lua_State *L, int arg, const char *name)
{
  check_name(L, arg, name, "scope map", 0, "letters, digits, '-' and '_'");
}

void acr_check_token_name(lua_State *L, int arg, const char *name)
{
  check_name(L, arg, name, "token", 1, "letters, digits and '-'");
}

static int client_tostring(lua_State *L)
{
  acr_client *c = (acr_client *)luaL_checkudata(L, 1, ACR_CLIENT_MT);
  if (c->closed)
    lua_pushliteral(L, "acr.Client(closed)");
  else
    lua_pushfstring(L, "acr.Client(%s%s)", c->endpoint, c->registry_path);
  return 1;
}

/* syntax: n = client:connections()  -- TCP connections opened so far (reuse check) */
static int client_connections(lua_State *L)
{
  lua_pushinteger(L, acr_pool_connections(acr_check_client(L, 1)->pool));
  return 1;
}

/* syntax: n = client:ended() -- operations the blocking driver has ended so far */
static int client_ended(lua_State *L)
{
  lua_pushinteger(L, (lua_Integer)acr_check_client(L, 1)->ended);
  return 1;
}

/* syntax: ep = client:endpoint() */
static int client_endpoint(lua_State *L)
{
  lua_pushstring(L, acr_check_client(L, 1)->endpoint);
  return 1;
}

/* syntax: id = client:registry_id() */
static int client_registry_id(lua_State *L)
{
  lua_pushstring(L, acr_check_client(L, 1)->registry_path);
  return 1;
}

int acr_client_open(lua_State *L)
{
  static const luaL_Reg methods[] = {
    {"close", client_close}, {"connections", client_connections}, {"drive", acr_client_drive},
    {"ended", client_ended}, {"endpoint", client_endpoint}, {"registry_id", client_registry_id},
    {NULL, NULL}
  };
  acr_newmetatable(L, ACR_CLIENT_MT);
  lua_pushcfunction(L, client_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, client_close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, client_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  acr_setfuncs(L, methods, "");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  acr_pushfunc(L, client_new, "acr.client");
  lua_setfield(L, -2, "client");
  return 0;
}
