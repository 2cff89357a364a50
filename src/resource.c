/* acr.ScopeMap and acr.Token. The userdata holds nothing but its kind; the ARM
 * document and the owning client live in its uservalue, so the GC sees every
 * reference and no C pointer outlives what it points at. */
#include <string.h>
#include <strings.h>

#include "api.h"
#include "client.h"
#include "error.h"
#include "json.h"
#include "luax.h"
#include "names.h"
#include "resource.h"

typedef struct acr_resource {
  acr_kind kind;
} acr_resource;

static const char *const mt_names[] = {ACR_SCOPEMAP_MT, ACR_TOKEN_MT};

static acr_resource *check_resource(lua_State *L, int idx, acr_kind kind)
{
  return (acr_resource *)acr_check_udata(L, idx, mt_names[kind], mt_names[kind]);
}

static acr_resource *test_resource(lua_State *L, int idx)
{
  acr_resource *r = (acr_resource *)luaL_testudata(L, idx, ACR_SCOPEMAP_MT);
  return r ? r : (acr_resource *)luaL_testudata(L, idx, ACR_TOKEN_MT);
}

/* uservalue = {client = <acr.Client>, doc = <ARM document>} */

/* Pushes doc.path[1].path[2]… or nil; "properties.x" style paths. */
static void push_path(lua_State *L, int idx, const char *a, const char *b)
{
  acr_uv_get(L, idx, "doc");
  if (lua_istable(L, -1))
    lua_getfield(L, -1, a);
  else
    lua_pushnil(L);
  lua_remove(L, -2);
  if (b) {
    if (lua_istable(L, -1))
      lua_getfield(L, -1, b);
    else
      lua_pushnil(L);
    lua_remove(L, -2);
  }
  if (acr_json_isnull(L, -1)) {
    lua_pop(L, 1);
    lua_pushnil(L);
  }
}

/* Pushes key k (at idx) as snake_case: camelCase ARM names for the Lua face. */
static void push_snake_key(lua_State *L, int idx)
{
  const char *k = lua_tostring(L, idx);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  for (; *k; k++) {
    if (*k >= 'A' && *k <= 'Z') {
      luaL_addchar(&b, '_');
      luaL_addchar(&b, (char)(*k - 'A' + 'a'));
    } else {
      luaL_addchar(&b, *k);
    }
  }
  luaL_pushresult(&b);
}

/* A deep copy, so that a caller changing what it got cannot change the object; with
 * snake set, string keys are renamed to snake_case on the way. */
static void push_tree(lua_State *L, int src, int snake)
{
  luaL_checkstack(L, 8, "ARM document nested too deeply");
  src = lua_absindex(L, src);
  if (!lua_istable(L, src)) {
    lua_pushvalue(L, src);
    return;
  }
  lua_newtable(L);
  lua_pushnil(L);
  while (lua_next(L, src)) {
    if (snake && lua_type(L, -2) == LUA_TSTRING)
      push_snake_key(L, -2);
    else
      lua_pushvalue(L, -2);
    push_tree(L, -2, snake);
    lua_settable(L, -5);
    lua_pop(L, 1);
  }
}

typedef struct field {
  const char *name, *a, *b;
  int deep;  /* 0 value, 1 copied table, 2 snake_case table */
} field;

static const field scope_map_fields[] = {
  {"id", "id", NULL, 0}, {"name", "name", NULL, 0}, {"type", "type", NULL, 0},
  {"description", "properties", "description", 0},
  {"actions", "properties", "actions", 1},
  {"creation_date", "properties", "creationDate", 0},
  {"provisioning_state", "properties", "provisioningState", 0},
  {"scope_map_type", "properties", "type", 0},
  {NULL, NULL, NULL, 0}
};

static const field token_fields[] = {
  {"id", "id", NULL, 0}, {"name", "name", NULL, 0}, {"type", "type", NULL, 0},
  {"status", "properties", "status", 0},
  {"scope_map_id", "properties", "scopeMapId", 0},
  {"object_id", "properties", "objectId", 0},
  {"creation_date", "properties", "creationDate", 0},
  {"provisioning_state", "properties", "provisioningState", 0},
  {"credentials", "properties", "credentials", 2},
  {NULL, NULL, NULL, 0}
};

static int resource_index(lua_State *L)
{
  acr_resource *r = test_resource(L, 1);
  if (!r)
    return acr_typeerror(L, 1, "acr.ScopeMap or acr.Token");
  lua_getmetatable(L, 1);
  lua_getfield(L, -1, "methods");
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  if (!lua_isnil(L, -1))
    return 1;
  lua_pop(L, 3);
  const char *k = lua_tostring(L, 2);
  const field *f = r->kind == ACR_KIND_TOKEN ? token_fields : scope_map_fields;
  for (; k && f->name; f++) {
    if (strcmp(f->name, k))
      continue;
    push_path(L, 1, f->a, f->b);
    if (f->deep == 1)
      push_tree(L, -1, 0);
    else if (f->deep == 2)
      push_tree(L, -1, 1);
    return 1;
  }
  lua_pushnil(L);
  return 1;
}

static int resource_newindex(lua_State *L)
{
  return luaL_error(L, "%s fields are read-only: use update{…}", 
                    mt_names[test_resource(L, 1) ? test_resource(L, 1)->kind : 0]);
}

static int resource_eq(lua_State *L)
{
  if (!test_resource(L, 1) || !test_resource(L, 2)) {
    lua_pushboolean(L, 0);
    return 1;
  }
  push_path(L, 1, "id", NULL);
  push_path(L, 2, "id", NULL);
  const char *a = lua_tostring(L, -2), *b = lua_tostring(L, -1);
  lua_pushboolean(L, a && b && !strcasecmp(a, b));  /* ARM ids are case-insensitive */
  return 1;
}

/* A field of server data for tostring: the string itself, or "?" for anything else
 * (tostring never raises, whatever the server sent). */
static const char *shown(lua_State *L, int idx)
{
  return lua_type(L, idx) == LUA_TSTRING ? lua_tostring(L, idx) : "?";
}

static int resource_tostring(lua_State *L)
{
  acr_resource *r = test_resource(L, 1);
  if (!r)
    return acr_typeerror(L, 1, "acr.ScopeMap or acr.Token");
  push_path(L, 1, "name", NULL);
  if (r->kind == ACR_KIND_TOKEN) {
    push_path(L, 1, "properties", "status");
    lua_pushfstring(L, "acr.Token(%s, %s)", shown(L, -2), shown(L, -1));
  } else {
    push_path(L, 1, "properties", "actions");
    lua_pushfstring(L, "acr.ScopeMap(%s, %d actions)", shown(L, -2),
                    lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0);
  }
  return 1;
}

void acr_resource_push(lua_State *L, int cidx, acr_shape shape, int doc_idx)
{
  cidx = lua_absindex(L, cidx);
  doc_idx = lua_absindex(L, doc_idx);
  if (shape == ACR_SHAPE_CREDENTIALS) {
    if (lua_istable(L, doc_idx))
      push_tree(L, doc_idx, 1);
    else
      lua_newtable(L);  /* never a metatable on a string or number type */
    luaL_setmetatable(L, ACR_CREDENTIALS_MT);
    return;
  }
  acr_kind kind = shape == ACR_SHAPE_TOKEN ? ACR_KIND_TOKEN : ACR_KIND_SCOPEMAP;
  acr_resource *r = (acr_resource *)acr_newuserdata(L, sizeof *r);
  r->kind = kind;
  luaL_setmetatable(L, mt_names[kind]);
  lua_createtable(L, 0, 2);
  lua_pushvalue(L, cidx);
  lua_setfield(L, -2, "client");
  lua_pushvalue(L, doc_idx);
  lua_setfield(L, -2, "doc");
  acr_setuservalue(L, -2);
}

/* Whether the value at idx (server data) is "<this client's registry>/<collection>/<valid
 * name>"; returns the name's offset (never 0 for an id), or 0. */
static size_t valid_id(lua_State *L, int cidx, int idx, int is_token)
{
  if (lua_type(L, idx) != LUA_TSTRING)
    return 0;
  size_t len;
  const char *id = lua_tolstring(L, idx, &len);
  acr_client *c = acr_check_client(L, cidx);
  return acr_name_id_of_registry(id, len, c->registry_path, is_token);
}

static int is_resource_id(const char *s, const char *collection)
{
  return !strncasecmp(s, "/subscriptions/", 15) && strstr(s, collection) != NULL;
}

void acr_resource_push_id(lua_State *L, int cidx, int arg, int is_token)
{
  acr_kind want = is_token ? ACR_KIND_TOKEN : ACR_KIND_SCOPEMAP;
  acr_resource *r = test_resource(L, arg);
  if (r) {
    if (r->kind != want)
      acr_argerror(L, arg, is_token ? "an acr.Token expected" : "an acr.ScopeMap expected");
    push_path(L, arg, "id", NULL);
    if (!valid_id(L, cidx, -1, is_token))
      acr_argerror(L, arg, is_token
                    ? "the Token's id (from the server) is not a token id of this client's registry"
                    : "the ScopeMap's id (from the server) is not a scope map id of this "
                      "client's registry");
    return;
  }
  if (lua_type(L, arg) != LUA_TSTRING)
    acr_argerror(L, arg, is_token ? "a Token, a token name or a token resource id expected"
                                   : "a ScopeMap, a scope map name or a resource id expected");
  const char *s = lua_tostring(L, arg);
  const char *coll = is_token ? "/tokens/" : "/scopeMaps/";
  if (s[0] == '/') {
    if (!is_resource_id(s, is_token ? "/tokens/" : "/scopeMaps/") &&
        !is_resource_id(s, is_token ? "/TOKENS/" : "/scopemaps/"))
      acr_argerror(L, arg, "not a resource id of this kind");
    lua_pushvalue(L, arg);
    return;
  }
  if (is_token)
    acr_check_token_name(L, arg, s);
  else
    acr_check_scope_map_name(L, arg, s);
  acr_client *c = acr_check_client(L, cidx);
  lua_pushfstring(L, "%s%s%s", c->registry_path, coll, s);
}

/* ---- methods ---- */

/* The object's name, checked against the API's name rules, since it came from the
 * server and becomes a URL path segment (escaped by acr_client_push_url). NULL, with an
 * acr.Error pushed instead, when it is not a valid name: the method then returns nil,
 * err and sends nothing. */
static const char *self_name(lua_State *L, acr_kind kind)
{
  check_resource(L, 1, kind);
  push_path(L, 1, "name", NULL);
  size_t len = 0;
  const char *n = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
  if (!n || !acr_name_valid(n, len, kind == ACR_KIND_TOKEN)) {
    lua_pop(L, 1);
    acr_error_push(L, "InvalidResponse",
                   kind == ACR_KIND_TOKEN
                     ? "the token's field 'name' from the service is not a valid token name"
                     : "the scope map's field 'name' from the service is not a valid scope "
                       "map name", 0);
    return NULL;
  }
  return n;  /* left on the stack */
}

/* The client comes back as a stack index; used by every method. */
static int self_client(lua_State *L)
{
  acr_uv_get(L, 1, "client");
  return lua_gettop(L);
}

/* After a successful update or refresh, self takes the new document. */
static int adopt(lua_State *L, int nres)
{
  if (nres == 1 && test_resource(L, -1)) {
    acr_uv_get(L, -1, "doc");
    acr_getuservalue(L, 1);
    lua_insert(L, -2);
    lua_setfield(L, -2, "doc");
    lua_pop(L, 2);
    lua_pushvalue(L, 1);
  }
  return nres;
}

static int kind_of(lua_State *L)
{
  acr_resource *r = test_resource(L, 1);
  if (!r)
    acr_typeerror(L, 1, "acr.ScopeMap or acr.Token");
  return (int)r->kind;
}

/* Runs the operation on top: blocking (self takes a returned resource's state), or
 * started and returned (the begin_* twins). */
static int run(lua_State *L, int wait)
{
  if (!wait) {
    acr_op_start(L, -1);
    return 1;
  }
  return adopt(L, acr_op_wait(L, -1));
}

/* syntax: obj, err = obj:refresh() */
static int m_refresh(lua_State *L)
{
  acr_kind k = (acr_kind)kind_of(L);
  const char *name = self_name(L, k);
  if (!name)
    return acr_error_return(L);
  int c = self_client(L);
  acr_api_push_get(L, c, k, name);
  return run(L, 1);
}

static int update(lua_State *L, int wait)
{
  acr_kind k = (acr_kind)kind_of(L);
  acr_check_table(L, 2);
  const char *name = self_name(L, k);
  if (!name)
    return acr_error_return(L);
  int c = self_client(L);
  acr_api_push_update(L, c, k, name, 2, 2);
  return run(L, wait);
}

/* syntax: obj, err = obj:update{…}; op = obj:begin_update{…} */
static int m_update(lua_State *L) { return update(L, 1); }
static int m_begin_update(lua_State *L) { return update(L, 0); }

static int delete(lua_State *L, int wait)
{
  acr_kind k = (acr_kind)kind_of(L);
  const char *name = self_name(L, k);
  if (!name)
    return acr_error_return(L);
  int c = self_client(L);
  acr_api_push_delete(L, c, k, name);
  return run(L, wait);
}

/* syntax: ok, err = obj:delete(); op = obj:begin_delete() */
static int m_delete(lua_State *L) { return delete(L, 1); }
static int m_begin_delete(lua_State *L) { return delete(L, 0); }

static int set_status(lua_State *L, const char *status, int wait)
{
  const char *name = self_name(L, ACR_KIND_TOKEN);
  if (!name)
    return acr_error_return(L);
  int c = self_client(L);
  lua_createtable(L, 0, 1);
  lua_pushstring(L, status);
  lua_setfield(L, -2, "status");
  acr_api_push_update(L, c, ACR_KIND_TOKEN, name, -1, 1);
  return run(L, wait);
}

/* syntax: tok, err = tok:enable() / tok:disable(); op = tok:begin_enable() / begin_disable() */
static int m_enable(lua_State *L) { return set_status(L, "enabled", 1); }
static int m_disable(lua_State *L) { return set_status(L, "disabled", 1); }
static int m_begin_enable(lua_State *L) { return set_status(L, "enabled", 0); }
static int m_begin_disable(lua_State *L) { return set_status(L, "disabled", 0); }

static int generate(lua_State *L, int wait)
{
  check_resource(L, 1, ACR_KIND_TOKEN);
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  int c = self_client(L);
  push_path(L, 1, "id", NULL);
  size_t ok = valid_id(L, c, -1, 1);
  lua_pop(L, 1);
  if (!ok) {
    acr_error_push(L, "InvalidResponse", "the token's field 'id' from the service is not a "
                   "token id of this client's registry", 0);
    return acr_error_return(L);
  }
  acr_api_push_generate(L, c, 2, 1, 2);
  return run(L, wait);
}

/* syntax: creds, err = tok:generate_credentials{name=?, expiry=?};
 * op = tok:begin_generate_credentials{…} */
static int m_generate(lua_State *L) { return generate(L, 1); }
static int m_begin_generate(lua_State *L) { return generate(L, 0); }

/* syntax: sm, err = tok:scope_map()  -- fetches the ScopeMap the token is bound to */
static int m_scope_map(lua_State *L)
{
  check_resource(L, 1, ACR_KIND_TOKEN);
  push_path(L, 1, "properties", "scopeMapId");
  if (lua_isnil(L, -1)) {
    acr_error_push(L, "NoScopeMap", "the token names no scope map", 0);
    return acr_error_return(L);
  }
  int id = lua_gettop(L);
  int c = self_client(L);
  /* The id must be a scope map of this very registry: its name is the URL's last
   * segment, and nothing else of it reaches a URL. */
  size_t off = valid_id(L, c, id, 0);
  if (!off) {
    acr_error_push(L, "InvalidResponse", "the token's field 'scope_map_id' from the service "
                   "is not a scope map id of this client's registry", 0);
    return acr_error_return(L);
  }
  acr_api_push_get(L, c, ACR_KIND_SCOPEMAP, lua_tostring(L, id) + off);
  return acr_op_wait(L, -1);
}

/* syntax: t = obj:to_table()  -- the ARM JSON document (a copy) */
static int m_to_table(lua_State *L)
{
  if (!test_resource(L, 1))
    return acr_typeerror(L, 1, "acr.ScopeMap or acr.Token");
  acr_uv_get(L, 1, "doc");
  push_tree(L, -1, 0);
  return 1;
}

static int credentials_tostring(lua_State *L)
{
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_pushliteral(L, "username");
  lua_rawget(L, 1);
  lua_pushliteral(L, "passwords");
  lua_rawget(L, 1);
  lua_pushfstring(L, "acr.GeneratedCredentials(%s, %d passwords, values hidden)",
                  shown(L, -2), lua_istable(L, -1) ? (int)lua_rawlen(L, -1) : 0);
  return 1;
}

static void new_class(lua_State *L, const char *name, const luaL_Reg *methods)
{
  acr_newmetatable(L, name);
  lua_pushcfunction(L, resource_index);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, resource_newindex);
  lua_setfield(L, -2, "__newindex");
  lua_pushcfunction(L, resource_eq);
  lua_setfield(L, -2, "__eq");
  lua_pushcfunction(L, resource_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  acr_setfuncs(L, methods, "");
  lua_setfield(L, -2, "methods");
  lua_pop(L, 1);
}

int acr_resource_open(lua_State *L)
{
  static const luaL_Reg scope_map_methods[] = {
    {"refresh", m_refresh}, {"update", m_update}, {"begin_update", m_begin_update},
    {"delete", m_delete}, {"begin_delete", m_begin_delete}, {"to_table", m_to_table},
    {NULL, NULL}
  };
  static const luaL_Reg token_methods[] = {
    {"refresh", m_refresh}, {"update", m_update}, {"begin_update", m_begin_update},
    {"delete", m_delete}, {"begin_delete", m_begin_delete}, {"to_table", m_to_table},
    {"enable", m_enable}, {"disable", m_disable}, {"begin_enable", m_begin_enable},
    {"begin_disable", m_begin_disable}, {"generate_credentials", m_generate},
    {"begin_generate_credentials", m_begin_generate}, {"scope_map", m_scope_map},
    {NULL, NULL}
  };
  new_class(L, ACR_SCOPEMAP_MT, scope_map_methods);
  new_class(L, ACR_TOKEN_MT, token_methods);
  acr_newmetatable(L, ACR_CREDENTIALS_MT);
  lua_pushcfunction(L, credentials_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  return 0;
}
