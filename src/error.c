/* acr.Error objects are plain tables with a metatable, so scripts read err.code
 * and err.status directly and print them with tostring(). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "errtext.h"
#include "error.h"
#include "json.h"

static int error_tostring(lua_State *L)
{
  lua_getfield(L, 1, "code");
  lua_getfield(L, 1, "message");
  lua_getfield(L, 1, "status");
  lua_getfield(L, 1, "request_id");
  int top = lua_gettop(L);
  lua_pushliteral(L, "acr.Error: ");
  lua_pushstring(L, lua_isstring(L, top - 3) ? lua_tostring(L, top - 3) : "Error");
  int n = 2;
  if (lua_isstring(L, top - 2)) {
    lua_pushliteral(L, ": ");
    lua_pushvalue(L, top - 2);
    n += 2;
  }
  if (lua_isnumber(L, top - 1)) {
    lua_pushfstring(L, " (HTTP %d", (int)lua_tointeger(L, top - 1));
    n++;
    if (lua_isstring(L, top)) {
      lua_pushliteral(L, ", request id ");
      lua_pushvalue(L, top);
      n += 2;
    }
    lua_pushliteral(L, ")");
    n++;
  }
  lua_concat(L, n);
  return 1;
}

int acr_error_open(lua_State *L)
{
  acr_newmetatable(L, ACR_ERROR_MT);
  lua_pushcfunction(L, error_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  return 0;
}

void acr_error_push(lua_State *L, const char *code, const char *message, long status)
{
  lua_createtable(L, 0, 8);
  lua_pushstring(L, code);
  lua_setfield(L, -2, "code");
  lua_pushstring(L, message ? message : code);
  lua_setfield(L, -2, "message");
  if (status > 0) {
    lua_pushinteger(L, status);
    lua_setfield(L, -2, "status");
  }
  lua_pushboolean(L, 0);
  lua_setfield(L, -2, "retryable");
  luaL_setmetatable(L, ACR_ERROR_MT);
}

void acr_error_set_retryable(lua_State *L, int idx, int retryable)
{
  idx = lua_absindex(L, idx);
  lua_pushboolean(L, retryable);
  lua_setfield(L, idx, "retryable");
}

static void copy_header(lua_State *L, int err, int hdr, const char *h, const char *field)
{
  lua_getfield(L, hdr, h);
  if (lua_type(L, -1) == LUA_TSTRING)
    lua_setfield(L, err, field);
  else
    lua_pop(L, 1);
}

void acr_error_set_ids(lua_State *L, int idx, int hdr_idx)
{
  if (!hdr_idx || !lua_istable(L, hdr_idx))
    return;
  idx = lua_absindex(L, idx);
  hdr_idx = lua_absindex(L, hdr_idx);
  copy_header(L, idx, hdr_idx, "x-ms-request-id", "request_id");
  copy_header(L, idx, hdr_idx, "x-ms-correlation-request-id", "correlation_id");
  copy_header(L, idx, hdr_idx, "x-ms-client-request-id", "client_request_id");
}

/* A code can arrive as a number (seen in LRO status bodies): keep it as text, and
 * whole (lua-cjson decodes every number as a float on Lua 5.4). */
static const char *field_text(lua_State *L, int t, const char *k)
{
  lua_getfield(L, t, k);
  if (lua_type(L, -1) == LUA_TNUMBER) {
    lua_Number n = lua_tonumber(L, -1);
    if (fabs(n) < 9007199254740992.0 && n == floor(n)) {
      char buf[32];
      snprintf(buf, sizeof buf, "%.0f", (double)n);
      lua_pop(L, 1);
      lua_pushstring(L, buf);
    }
  }
  if (lua_type(L, -1) == LUA_TSTRING || lua_type(L, -1) == LUA_TNUMBER)
    return lua_tostring(L, -1);
  lua_pop(L, 1);
  return NULL;
}

static const char *status_code_name(long status)
{
  switch (status) {
  case 400: return "BadRequest";
  case 401: return "AuthenticationFailed";
  case 403: return "Forbidden";
  case 404: return "ResourceNotFound";
  case 409: return "Conflict";
  case 429: return "TooManyRequests";
  case 500: return "InternalServerError";
  case 502: return "BadGateway";
  case 503: return "ServiceUnavailable";
  case 504: return "GatewayTimeout";
  default: return "HttpError";
  }
}

/* A code from a body that is not ARM's shape is taken only when it reads like one
 * ("invalid_client", "RequestFailed"): a sentence there is the message. */
static int looks_like_code(const char *s)
{
  size_t n = s ? strlen(s) : 0;
  return n > 0 && n <= 64 &&
         strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") == n;
}

/* Pushes the cleaned text of s[0..n) (errtext.c); NULL when nothing printable is left. */
static const char *push_clean_to(lua_State *L, const char *s, size_t n, char *buf, size_t cap)
{
  size_t len = acr_errtext_clean(s, n, buf, cap);
  if (len == 0)
    return NULL;
  lua_pushlstring(L, buf, len);
  return lua_tostring(L, -1);
}

static const char *push_clean(lua_State *L, const char *s, size_t n)
{
  char buf[ACR_ERRTEXT_MAX + 1];
  return push_clean_to(L, s, n, buf, sizeof buf);
}

/* ARM's own words: made safe to print as well (ARM echoes what the caller sent, and a
 * message may reach a terminal), with room for a long list of invalid fields. */
static const char *push_clean_arm(lua_State *L, const char *s)
{
  char buf[ACR_ERRTEXT_ARM_MAX + 1];
  return s ? push_clean_to(L, s, strlen(s), buf, sizeof buf) : NULL;
}

/* Another shape's words: Entra ID's {"error":"invalid_client","error_description":…},
 * {"error":"text"}, {"message":…} or {"Message":…} (with a "code" beside it), or else
 * the body's text itself (plain text, an HTML page). */
static void other_shape(lua_State *L, int doc, int text, const char **code, const char **msg)
{
  const char *e = NULL, *m = NULL;
  if (doc) {
    e = lua_type(L, doc) == LUA_TTABLE ? field_text(L, doc, "error") : NULL;
    m = lua_type(L, doc) == LUA_TTABLE ? field_text(L, doc, "error_description") : NULL;
    if (!e && !m && lua_type(L, doc) == LUA_TTABLE) {
      e = field_text(L, doc, "code");
      m = field_text(L, doc, "message");
      if (!m)
        m = field_text(L, doc, "Message");
    }
  }
  if (looks_like_code(e))
    *code = e;
  else if (e && !m)
    m = e;
  if (!m && *code)
    m = *code;
  if (m)
    *msg = push_clean(L, m, strlen(m));
  else if (text)
    *msg = push_clean(L, lua_tostring(L, text), lua_rawlen(L, text));
}

/* ARM: {"error":{"code","message","details","target"}}, code and message made safe to
 * print (no control bytes or terminal escapes, 4 KB at most), the rest as it is. Any other body
 * (other_shape) gives its words, made safe, and a status-based code unless it has one. */
void acr_error_push_response(lua_State *L, long status, int hdr_idx, int body_idx, int text_idx)
{
  int top = lua_gettop(L);
  const char *code = NULL, *msg = NULL;
  int inner = 0;
  body_idx = body_idx ? lua_absindex(L, body_idx) : 0;
  text_idx = text_idx && lua_type(L, text_idx) == LUA_TSTRING ? lua_absindex(L, text_idx) : 0;
  if (body_idx && lua_istable(L, body_idx)) {
    lua_getfield(L, body_idx, "error");
    if (lua_istable(L, -1)) {
      inner = lua_gettop(L);
      code = push_clean_arm(L, field_text(L, inner, "code"));
      msg = push_clean_arm(L, field_text(L, inner, "message"));
    }
  }
  if (!inner)
    other_shape(L, body_idx, text_idx, &code, &msg);
  char fallback[64];
  if (!msg) {
    snprintf(fallback, sizeof fallback, "the service answered HTTP %ld", status);
    msg = fallback;
  }
  acr_error_push(L, code ? code : status_code_name(status), msg, status);
  int err = lua_gettop(L);
  if (inner) {
    lua_getfield(L, inner, "details");
    lua_setfield(L, err, "details");
    lua_getfield(L, inner, "target");
    lua_setfield(L, err, "target");
  }
  acr_error_set_ids(L, err, hdr_idx);
  lua_insert(L, top + 1);
  lua_settop(L, top + 1);
}

int acr_error_return(lua_State *L)
{
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}
