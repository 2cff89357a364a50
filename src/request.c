/* client:request and client:pages: any ARM URL through the same pipeline (retries,
 * LRO, paging, the token kept to the endpoint's origin), as `az rest` offers. */
#include <string.h>
#include <strings.h>

#include "api.h"
#include "client.h"
#include "error.h"
#include "json.h"
#include "lro.h"
#include "luax.h"
#include "names.h"
#include "operation.h"
#include "pager.h"
#include "url.h"

/* An HTTP method: an RFC 9110 token, here upper-case letters (as every method ARM and
 * libcurl know is), up to 15 of them. */
static const char *check_method(lua_State *L, int arg)
{
  const char *m = acr_check_cstring(L, arg);
  size_t n = strlen(m);
  if (n == 0 || n > 15 || strspn(m, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != n)
    acr_argerror(L, arg, "an HTTP method expected (upper-case letters, e.g. GET, HEAD, OPTIONS)");
  return m;
}

/* Checks the type of option k; a string must hold no NUL byte (C would see it cut). */
static void opt_type(lua_State *L, int o, const char *k, int type)
{
  lua_getfield(L, o, k);
  if (!lua_isnil(L, -1) && lua_type(L, -1) != type)
    acr_opterror(L, o, k, "must be a %s, got %s", lua_typename(L, type), luaL_typename(L, -1));
  if (type == LUA_TSTRING && lua_isstring(L, -1) && !acr_is_cstring(L, -1))
    acr_opterror(L, o, k, "must not contain a NUL byte");
  lua_pop(L, 1);
}

/* api_version: a string of [0-9A-Za-z.-] (e.g. 2019-05-01-preview), false for none. */
static void check_api_version(lua_State *L, int o)
{
  lua_getfield(L, o, "api_version");
  int ty = lua_type(L, -1);
  if (ty == LUA_TSTRING) {
    const char *v = lua_tostring(L, -1);
    if (!acr_is_cstring(L, -1) || !acr_api_version_valid(v))
      acr_opterror(L, o, "api_version", "may contain only letters, digits, '.' and '-'");
  } else if (ty != LUA_TNIL && !(ty == LUA_TBOOLEAN && !lua_toboolean(L, -1))) {
    acr_opterror(L, o, "api_version", "must be a string or false, got %s", luaL_typename(L, -1));
  }
  lua_pop(L, 1);
}

/* The options table at idx (absent: an empty one), with nothing above it on the stack
 * and no key outside allowed. */
static void options_at(lua_State *L, int idx, const char *const *allowed)
{
  if (lua_isnoneornil(L, idx)) {
    lua_settop(L, idx - 1);
    lua_newtable(L);
  }
  acr_check_options(L, idx, 0, allowed);
  lua_settop(L, idx);
}

/* Names a caller may not set: the transport's framing and routing, the credential's
 * token, and the User-Agent the client sets (a second one would be sent beside it).
 * Accept and Content-Type may be set: they replace the core's; so may
 * x-ms-client-request-id (the operation's id then, see acr_op_push). */
static const struct { const char *name, *why; } reserved[] = {
  {"authorization", "Authorization comes from the credential"},
  {"user-agent", "User-Agent comes from the client's user_agent option"},
  {"host", NULL}, {"proxy-authorization", NULL}, {"content-length", NULL},
  {"transfer-encoding", NULL}, {"connection", NULL}, {"keep-alive", NULL},
  {"proxy-connection", NULL}, {"upgrade", NULL}, {"te", NULL}, {"trailer", NULL},
  {"expect", NULL}, {NULL, NULL}
};

/* A caller's request id becomes op:request_id() and goes into every log line and
 * error of the operation: visible ASCII, no blanks, at most ACR_MAX_REQUEST_ID long. */
static void check_request_id(lua_State *L, int o, const char *v)
{
  size_t n = strlen(v);
  for (size_t i = 0; i < n; i++)
    if (v[i] <= ' ' || v[i] > '~')
      n = 0;
  if (n == 0 || n > ACR_MAX_REQUEST_ID)
    acr_opterror(L, o, "headers", "x-ms-client-request-id must be 1 to %d visible ASCII "
                 "characters", ACR_MAX_REQUEST_ID);
}

/* A header table maps RFC 9110 token names to one-line string values (no CR, LF, NUL
 * or other control byte); no reserved name, no name twice (case-insensitively). */
static void check_headers(lua_State *L, int o)
{
  lua_getfield(L, o, "headers");
  int h = lua_gettop(L);
  if (lua_istable(L, h)) {
    lua_pushnil(L);
    while (lua_next(L, h)) {
      if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TSTRING ||
          !acr_is_cstring(L, -2) || !acr_is_cstring(L, -1) ||
          !acr_is_token(lua_tostring(L, -2)) || !acr_is_one_line(lua_tostring(L, -1)))
        acr_opterror(L, o, "headers", "must map header names (tokens) to values (one line of "
                     "text), both strings without NUL, CR or LF");
      const char *name = lua_tostring(L, -2);
      if (!strcasecmp(name, "x-ms-client-request-id"))
        check_request_id(L, o, lua_tostring(L, -1));
      for (int i = 0; reserved[i].name; i++) {
        if (strcasecmp(name, reserved[i].name))
          continue;
        if (reserved[i].why)
          acr_opterror(L, o, "headers", "may not set %s: %s", name, reserved[i].why);
        acr_opterror(L, o, "headers", "may not set %s (the transport sets it)", name);
      }
      lua_pushnil(L);  /* the same name twice in other cases would be sent twice */
      while (lua_next(L, h)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING && strcasecmp(lua_tostring(L, -1), name) == 0 &&
            !lua_rawequal(L, -1, -3))
          acr_opterror(L, o, "headers", "gives header '%s' twice", name);
      }
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
}

/* Pushes the absolute URL: path resolved, query added, api-version set unless false. */
static void push_url(lua_State *L, acr_client *c, int arg, int o)
{
  acr_buf url = ACR_BUF_INIT;
  acr_origin origin;
  const char *ref = acr_check_cstring(L, arg);
  if ((ref[0] != '/' && strncasecmp(ref, "https://", 8) && strncasecmp(ref, "http://", 7)) ||
      acr_url_resolve(c->endpoint, ref, &url, &origin) != 0) {
    acr_buf_free(&url);
    acr_argerror(L, arg, "an absolute http(s) URL or a path starting with '/' expected, "
                         "in plain ASCII without user info");
  }
  if (!acr_origin_equal(&origin, &c->origin)) {
    acr_buf_free(&url);
    acr_argerror(L, arg, "the URL is not on the client's endpoint (the token goes nowhere else)");
  }
  int rc = 0;
  lua_getfield(L, o, "query");
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (rc == 0 && lua_next(L, -2)) {
      if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1) ||
          !acr_is_cstring(L, -2) || !acr_is_cstring(L, -1)) {
        acr_buf_free(&url);
        acr_opterror(L, o, "query", "must map string names to string or number values, "
                     "without NUL bytes");
      }
      rc = acr_url_set_param(&url, lua_tostring(L, -2), lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  lua_getfield(L, o, "api_version");
  if (rc == 0 && !(lua_isboolean(L, -1) && !lua_toboolean(L, -1)))
    rc = acr_url_set_param(&url, "api-version",
                           lua_isstring(L, -1) ? lua_tostring(L, -1) : c->api_version);
  lua_pop(L, 1);
  if (rc == 0)
    lua_pushstring(L, url.data);
  acr_buf_free(&url);
  if (rc != 0)
    luaL_error(L, "acr: out of memory");
}

/* Pushes the body text (a table is encoded as JSON) or nil. */
static void push_body(lua_State *L, int o)
{
  lua_getfield(L, o, "body");
  if (lua_istable(L, -1)) {
    if (!acr_json_encode(L, -1))
      acr_opterror(L, o, "body", "cannot be sent as JSON: %s", lua_tostring(L, -1));
    lua_remove(L, -2);
  } else if (!lua_isnil(L, -1) && lua_type(L, -1) != LUA_TSTRING) {
    acr_opterror(L, o, "body", "must be a table or a string, got %s", luaL_typename(L, -1));
  }
}

void acr_request_build(lua_State *L)
{
  static const char *const allowed[] = {"body", "headers", "query", "lro", "final_state_via",
                                        "api_version", "timeout", NULL};
  acr_client *c = acr_check_client(L, 1);
  const char *method = check_method(L, 2);
  options_at(L, 4, allowed);
  opt_type(L, 4, "lro", LUA_TBOOLEAN);
  opt_type(L, 4, "final_state_via", LUA_TSTRING);
  opt_type(L, 4, "headers", LUA_TTABLE);
  opt_type(L, 4, "query", LUA_TTABLE);
  check_headers(L, 4);
  check_api_version(L, 4);
  double timeout = acr_opt_seconds(L, 4, 4, "timeout", 0, 0, 1);
  acr_op_spec s;
  memset(&s, 0, sizeof s);
  s.method = method;
  push_url(L, c, 3, 4);               /* 5 */
  s.url = lua_tostring(L, 5);
  push_body(L, 4);                    /* 6 */
  if (lua_isstring(L, 6))
    s.body = lua_tolstring(L, 6, &s.body_len);
  lua_getfield(L, 4, "lro");
  s.lro = lua_toboolean(L, -1);
  lua_getfield(L, 4, "final_state_via");
  int fsv = acr_lro_parse_final_via(lua_tostring(L, -1));
  if (fsv < 0)
    acr_opterror(L, 4, "final_state_via", "must be azure-async-operation, location or "
                 "original-uri");
  s.final_via = (acr_final_via)fsv;
  s.timeout = timeout;
  lua_getfield(L, 4, "headers");
  s.headers_idx = lua_istable(L, -1) ? lua_gettop(L) : 0;
  s.shape = ACR_SHAPE_RAW;
  acr_op_push(L, 1, &s);
}

/* syntax: res, err = client:request(method, path_or_url, {body=, headers=, query=, lro=,
 *   final_state_via=, api_version=, timeout=})  -- res = {status=, headers=, body=} */
static int client_request(lua_State *L)
{
  acr_request_build(L);
  return acr_op_wait(L, -1);
}

/* syntax: op = client:begin_request(method, path_or_url, opts) */
static int client_begin_request(lua_State *L)
{
  acr_request_build(L);
  acr_op_start(L, -1);
  return 1;
}

/* syntax: pager = client:pages(path_or_url, {items="value", next_link="nextLink", api_version=}) */
static int client_pages(lua_State *L)
{
  static const char *const allowed[] = {"items", "next_link", "api_version", "query", NULL};
  acr_client *c = acr_check_client(L, 1);
  options_at(L, 3, allowed);
  opt_type(L, 3, "items", LUA_TSTRING);
  lua_getfield(L, 3, "next_link");
  int one_page = lua_isboolean(L, -1) && !lua_toboolean(L, -1);   /* false: one page */
  lua_pop(L, 1);
  if (!one_page)
    opt_type(L, 3, "next_link", LUA_TSTRING);
  opt_type(L, 3, "query", LUA_TTABLE);
  check_api_version(L, 3);
  push_url(L, c, 2, 3);
  lua_getfield(L, 3, "items");
  lua_getfield(L, 3, "next_link");
  lua_getfield(L, 3, "api_version");
  const char *apiv = lua_isstring(L, -1) ? lua_tostring(L, -1)
                     : lua_isboolean(L, -1) ? NULL : c->api_version;
  acr_pager_push(L, 1, lua_tostring(L, 4), ACR_SHAPE_RAW, acr_opt_cstring(L, 5, "value"),
                 one_page ? NULL : acr_opt_cstring(L, 6, "nextLink"), apiv);
  return 1;
}

int acr_request_open(lua_State *L)
{
  static const luaL_Reg client_methods[] = {
    {"request", client_request}, {"begin_request", client_begin_request},
    {"pages", client_pages}, {NULL, NULL}
  };
  acr_add_methods(L, ACR_CLIENT_MT, client_methods);
  return 0;
}
