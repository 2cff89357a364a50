/* acr.Pager: lazy listing. It is callable, so `for tok in client:tokens() do` works
 * on Lua 5.1/LuaJIT and 5.4 alike, and it keeps only the current page, handing its
 * items out one by one and dropping each reference as it goes: memory stays flat. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "client.h"
#include "error.h"
#include "json.h"
#include "luax.h"
#include "pager.h"
#include "resource.h"
#include "url.h"

typedef struct acr_pager {
  acr_shape shape;   /* of each item */
  int done;          /* no further page */
  int pos, count;    /* position in the current page */
  int pages;
} acr_pager;

/* uservalue: {client=, next=url|nil, page=items|nil, items=key, next_key=key, api_version=,
 * op=the operation the last next_operation() handed out, until it is taken} */

static acr_pager *check_pager(lua_State *L, int idx)
{
  return (acr_pager *)acr_check_udata(L, idx, ACR_PAGER_MT, "acr.Pager");
}

static int pending_error(lua_State *L, int idx, acr_pager *p);


void acr_pager_push(lua_State *L, int cidx, const char *url, acr_shape item_shape,
                    const char *items_key, const char *next_key, const char *api_version)
{
  cidx = lua_absindex(L, cidx);
  acr_pager *p = (acr_pager *)acr_newuserdata(L, sizeof *p);
  memset(p, 0, sizeof *p);
  p->shape = item_shape;
  luaL_setmetatable(L, ACR_PAGER_MT);
  lua_createtable(L, 0, 6);
  lua_pushvalue(L, cidx);
  lua_setfield(L, -2, "client");
  lua_pushstring(L, url);
  lua_setfield(L, -2, "next");
  lua_pushstring(L, items_key);
  lua_setfield(L, -2, "items");
  lua_pushstring(L, next_key);
  lua_setfield(L, -2, "next_key");
  if (api_version) {
    lua_pushstring(L, api_version);
    lua_setfield(L, -2, "api_version");
  }
  acr_setuservalue(L, -2);
}

/* syntax: op = pager:next_operation()  -- the GET of the next page, nil at the end, or
 * nil, err for the nextLink of the page before that could not be followed
 * (for drivers other than the blocking one). The pager remembers it as the one
 * operation take() accepts: each call supersedes the operation handed out before. */
static int pager_next_operation(lua_State *L)
{
  acr_pager *p = check_pager(L, 1);
  int n = pending_error(L, 1, p);
  if (n)
    return n;
  acr_uv_get(L, 1, "next");
  if (p->done || lua_isnil(L, -1)) {
    lua_pushnil(L);
    lua_pushnil(L);
    acr_uv_set(L, 1, "op");
    return 1;
  }
  acr_op_spec s;
  memset(&s, 0, sizeof s);
  s.method = "GET";
  s.url = lua_tostring(L, -1);
  s.shape = ACR_SHAPE_PAGE;
  acr_uv_get(L, 1, "client");
  acr_op_push(L, -1, &s);
  lua_pushvalue(L, -1);
  acr_uv_set(L, 1, "op");
  return 1;
}

/* The next page's URL: resolved against the URL of the page that named it (the "next"
 * still in the uservalue), with the api-version set (replacing any), on the endpoint's
 * origin only. */
static int set_next(lua_State *L, int idx, int doc)
{
  acr_uv_get(L, idx, "next_key");
  lua_gettable(L, doc);
  if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0) {
    lua_pop(L, 1);
    lua_pushnil(L);
    acr_uv_set(L, idx, "next");
    return 1;
  }
  acr_uv_get(L, idx, "client");
  acr_client *c = acr_check_client(L, -1);
  acr_uv_get(L, idx, "next");
  acr_uv_get(L, idx, "api_version");
  acr_buf url = ACR_BUF_INIT;
  acr_origin o;
  const char *base = lua_isstring(L, -2) ? lua_tostring(L, -2) : c->endpoint;
  int rc = acr_url_resolve(base, lua_tostring(L, -4), &url, &o);
  int foreign = rc == 0 && !acr_origin_equal(&o, &c->origin);
  int ok = rc == 0 && !foreign;
  if (ok && lua_isstring(L, -1))
    ok = acr_url_set_param(&url, "api-version", lua_tostring(L, -1)) == 0;
  lua_pop(L, 4);
  if (ok)
    lua_pushstring(L, url.data);
  acr_buf_free(&url);
  if (!ok) {
    char msg[512];
    if (foreign)
      snprintf(msg, sizeof msg, "refusing to follow a nextLink to %.200s: it is not on the "
                                "configured endpoint %.120s", o.host, c->endpoint);
    else
      snprintf(msg, sizeof msg, "the nextLink is not a URL that can be read unambiguously");
    acr_error_push(L, "UntrustedHost", msg, 0);
    return 0;
  }
  acr_uv_set(L, idx, "next");
  return 1;
}

/* Whether the value at idx is a JSON array: a table whose keys are exactly 1..n. */
static int is_array(lua_State *L, int idx)
{
  if (!lua_istable(L, idx))
    return 0;
  idx = lua_absindex(L, idx);
  size_t n = lua_rawlen(L, idx), keys = 0;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    if (lua_type(L, -1) != LUA_TNUMBER) {
      lua_pop(L, 1);
      return 0;
    }
    keys++;
  }
  return keys == n;
}

/* A ScopeMap or Token list must hold JSON objects only: the first item that is not one
 * fails the whole page (with InvalidResponse naming its index) before any of its items
 * is handed out, rather than being skipped where an audit would never see it. */
static int check_items(lua_State *L, acr_pager *p, int items)
{
  if (p->shape != ACR_SHAPE_SCOPEMAP && p->shape != ACR_SHAPE_TOKEN)
    return 1;
  int n = (int)lua_rawlen(L, items);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, items, i);
    int ok = lua_istable(L, -1) && lua_rawlen(L, -1) == 0;
    lua_pop(L, 1);
    if (!ok) {
      acr_error_push(L, "InvalidResponse",
                     lua_pushfstring(L, "item %d of a list page is not a JSON object", i), 0);
      lua_remove(L, -2);
      return 0;
    }
  }
  return 1;
}

/* Takes a fetched page document; pushes its items list or (0) an error. */
static int take_page(lua_State *L, int idx, acr_pager *p, int doc)
{
  doc = lua_absindex(L, doc);
  if (!lua_istable(L, doc)) {
    acr_error_push(L, "InvalidResponse", "a list page is not a JSON object", 0);
    return 0;
  }
  acr_uv_get(L, idx, "items");
  lua_gettable(L, doc);
  if (lua_isnil(L, -1) || acr_json_isnull(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
  } else if (!is_array(L, -1)) {
    acr_error_push(L, "InvalidResponse", "a list page's items are not a list", 0);
    return 0;
  } else if (!check_items(L, p, lua_gettop(L))) {
    return 0;
  }
  if (!set_next(L, idx, doc)) {
    /* The page's items are handed out; its unusable nextLink fails the pager when the
     * next page is needed (pending_error). */
    acr_uv_set(L, idx, "next_error");
    lua_pushnil(L);
    acr_uv_set(L, idx, "next");
  }
  acr_uv_get(L, idx, "next");
  acr_uv_get(L, idx, "next_error");
  p->done = lua_isnil(L, -2) && lua_isnil(L, -1);
  lua_pop(L, 2);
  p->pages++;
  return 1;
}

/* A nextLink refused when its page was taken: nil, err now, once; then the end. */
static int pending_error(lua_State *L, int idx, acr_pager *p)
{
  acr_uv_get(L, idx, "next_error");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 0;
  }
  lua_pushnil(L);
  acr_uv_set(L, idx, "next_error");
  p->done = 1;
  return acr_error_return(L);
}

static void convert_items(lua_State *L, int idx, acr_pager *p, int items);

/* Takes the page of the operation at opidx, the pager's current next_operation(),
 * driving it to its end first when it is not there yet; pushes its items or nil, err. */
static int take_op(lua_State *L, int idx, acr_pager *p, int opidx)
{
  /* Forgotten before the wait, not after: a logger called during the wait cannot
   * take the same page again, and a failure still leaves it taken. */
  lua_pushnil(L);
  acr_uv_set(L, idx, "op");
  int n = acr_op_wait(L, opidx);
  if (n == 2) {
    p->done = 1;
    return 2;
  }
  if (!take_page(L, idx, p, -1)) {
    p->done = 1;
    return acr_error_return(L);
  }
  convert_items(L, idx, p, lua_gettop(L));
  return 1;
}

/* syntax: items, err = pager:take(op)  -- op: the pager's current next_operation().
 * Any other operation (another pager's, one already taken, one a later
 * next_operation() superseded) is misuse: its page is not this pager's next one, and
 * taking it would hand items out twice or move the pager to the wrong nextLink. */
static int pager_take(lua_State *L)
{
  acr_pager *p = check_pager(L, 1);
  acr_check_udata(L, 2, ACR_OPERATION_MT, "acr.Operation");
  acr_uv_get(L, 1, "op");
  if (!lua_rawequal(L, -1, 2))
    acr_argerror(L, 2, "not the operation this pager's last next_operation() returned, or "
                 "taken already");
  lua_pop(L, 1);
  return take_op(L, 1, p, 2);
}

/* Turns raw items into ScopeMap/Token objects, in place. */
static void convert_items(lua_State *L, int idx, acr_pager *p, int items)
{
  if (p->shape != ACR_SHAPE_SCOPEMAP && p->shape != ACR_SHAPE_TOKEN)
    return;
  acr_uv_get(L, idx, "client");
  int c = lua_gettop(L);
  int n = (int)lua_rawlen(L, items);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, items, i);
    if (lua_istable(L, -1)) {
      acr_resource_push(L, c, p->shape, -1);
      lua_rawseti(L, items, i);
    }
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
}

/* Fetches the next page with the C driver; pushes its items, nil at the end, or
 * nil, err. */
static int fetch_page(lua_State *L, int idx, acr_pager *p)
{
  int n = pending_error(L, idx, p);
  if (n)
    return n;
  lua_pushcfunction(L, pager_next_operation);
  lua_pushvalue(L, idx);
  lua_call(L, 1, 1);
  if (lua_isnil(L, -1))
    return 1;
  return take_op(L, idx, p, lua_gettop(L));
}

/* syntax: items, err = pager:next_page()  -- a list, or nil when there are no more pages */
static int pager_next_page(lua_State *L)
{
  acr_pager *p = check_pager(L, 1);
  lua_pushnil(L);
  acr_uv_set(L, 1, "page");
  p->pos = p->count = 0;
  return fetch_page(L, 1, p);
}

/* The iterator: the next item, nil at the end; a failure raises the acr.Error. */
static int pager_call(lua_State *L)
{
  acr_pager *p = check_pager(L, 1);
  int base = lua_gettop(L);
  for (;;) {
    lua_settop(L, base);  /* nothing piles up across empty pages */
    if (p->pos < p->count) {
      acr_uv_get(L, 1, "page");
      int page = lua_gettop(L);
      lua_rawgeti(L, page, ++p->pos);
      lua_pushnil(L);
      lua_rawseti(L, page, p->pos);  /* the page no longer holds what it handed out */
      return 1;
    }
    if (p->done) {
      lua_pushnil(L);
      acr_uv_set(L, 1, "page");
      lua_pushnil(L);
      return 1;
    }
    int n = fetch_page(L, 1, p);
    if (n == 2)
      return lua_error(L);
    if (lua_isnil(L, -1)) {
      p->done = 1;
      continue;
    }
    p->count = (int)lua_rawlen(L, -1);
    p->pos = 0;
    acr_uv_set(L, 1, "page");
  }
}

static int pager_tostring(lua_State *L)
{
  acr_pager *p = check_pager(L, 1);
  lua_pushfstring(L, "acr.Pager(%d pages read%s)", p->pages, p->done ? ", done" : "");
  return 1;
}

static int new_list(lua_State *L, acr_kind kind)
{
  acr_client *c = acr_check_client(L, 1);
  acr_client_push_url(L, c, kind == ACR_KIND_TOKEN ? "tokens" : "scopeMaps", NULL);
  acr_pager_push(L, 1, lua_tostring(L, -1),
                 kind == ACR_KIND_TOKEN ? ACR_SHAPE_TOKEN : ACR_SHAPE_SCOPEMAP, "value",
                 "nextLink", c->api_version);
  return 1;
}

/* syntax: pager = client:scope_maps()  -- for sm in client:scope_maps() do … end */
static int client_scope_maps(lua_State *L) { return new_list(L, ACR_KIND_SCOPEMAP); }
/* syntax: pager = client:tokens()  -- for tok in client:tokens() do … end */
static int client_tokens(lua_State *L) { return new_list(L, ACR_KIND_TOKEN); }

int acr_pager_open(lua_State *L)
{
  static const luaL_Reg methods[] = {
    {"next_page", pager_next_page}, {"next_operation", pager_next_operation},
    {"take", pager_take}, {NULL, NULL}
  };
  static const luaL_Reg client_methods[] = {
    {"scope_maps", client_scope_maps}, {"tokens", client_tokens}, {NULL, NULL}
  };
  acr_newmetatable(L, ACR_PAGER_MT);
  lua_pushcfunction(L, pager_call);
  lua_setfield(L, -2, "__call");
  lua_pushcfunction(L, pager_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  acr_setfuncs(L, methods, "");
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  acr_add_methods(L, ACR_CLIENT_MT, client_methods);
  return 0;
}
