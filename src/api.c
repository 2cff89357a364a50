/* The operations of api-version 2019-05-01-preview, built as acr.Operations, and the
 * client methods over them: every blocking method is its begin_* twin plus wait(). */
#include <string.h>

#include "api.h"
#include "client.h"
#include "error.h"
#include "json.h"
#include "luax.h"
#include "names.h"
#include "operation.h"
#include "resource.h"

static const char *const collections[] = {"scopeMaps", "tokens"};

void acr_add_methods(lua_State *L, const char *tname, const luaL_Reg *l)
{
  luaL_getmetatable(L, tname);
  lua_getfield(L, -1, "__index");
  acr_setfuncs(L, l, "");
  lua_pop(L, 2);
}

static void check_name(lua_State *L, int arg, acr_kind kind, const char *name)
{
  if (kind == ACR_KIND_TOKEN)
    acr_check_token_name(L, arg, name);
  else
    acr_check_scope_map_name(L, arg, name);
}

/* Pushes the operation for method on the url at the top of the stack (popped), with
 * the JSON body at bidx (0 = none). */
static void push_op(lua_State *L, int cidx, const char *method, int bidx, acr_shape shape,
                    int lro)
{
  int url = lua_gettop(L);
  acr_op_spec s;
  memset(&s, 0, sizeof s);
  s.method = method;
  s.url = lua_tostring(L, url);
  if (bidx)
    s.body = lua_tolstring(L, bidx, &s.body_len);
  s.lro = lro;
  s.shape = shape;
  if (shape == ACR_SHAPE_SCOPEMAP || shape == ACR_SHAPE_TOKEN || shape == ACR_SHAPE_CREDENTIALS)
    s.wrap = acr_resource_push;
  /* Every operation here sets state rather than adding to it, so repeating one
   * after a dropped connection is safe; generateCredentials replaces the password
   * it made. */
  s.idempotent = 1;
  acr_op_push(L, cidx, &s);
  lua_remove(L, url);
}

void acr_api_push_get(lua_State *L, int cidx, acr_kind kind, const char *name)
{
  acr_client *c = acr_check_client(L, cidx);
  acr_client_push_url(L, c, collections[kind], name);
  push_op(L, cidx, "GET", 0, kind == ACR_KIND_TOKEN ? ACR_SHAPE_TOKEN : ACR_SHAPE_SCOPEMAP, 0);
}

void acr_api_push_delete(lua_State *L, int cidx, acr_kind kind, const char *name)
{
  acr_client *c = acr_check_client(L, cidx);
  acr_client_push_url(L, c, collections[kind], name);
  push_op(L, cidx, "DELETE", 0, ACR_SHAPE_DELETED, 1);
}

/* ---- request bodies ---- */

static void props_error(lua_State *L, int arg, const char *field, const char *what)
{
  acr_argerror(L, arg, "field '%s' %s", field, what);
}

static void check_fields(lua_State *L, int pidx, int arg, const char *const *allowed)
{
  const char *k = acr_unknown_key(L, pidx, allowed);
  if (k)
    props_error(L, arg, k, "is not known");
}

/* actions: a non-empty list of actions as ACR accepts them (names.h), copied into
 * properties at -1. */
static void copy_actions(lua_State *L, int pidx, int arg)
{
  lua_getfield(L, pidx, "actions");
  int a = lua_gettop(L);
  int n = lua_istable(L, a) ? (int)lua_rawlen(L, a) : 0;
  if (n == 0)
    props_error(L, arg, "actions", "must be a non-empty list of strings");
  lua_createtable(L, n, 0);
  for (int i = 1; i <= n; i++) {
    lua_rawgeti(L, a, i);
    if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
      props_error(L, arg, "actions", "must hold only non-empty strings");
    size_t len;
    const char *act = lua_tolstring(L, -1, &len);
    if (!acr_action_valid(act, len))
      props_error(L, arg, "actions", lua_pushfstring(L, "item %d '%s' is not a scope map action "
                  "(repositories/REPO/content/read|write|delete or metadata/read|write, "
                  "gateway/NAME/config|message/read|write)", i, act));
    lua_rawseti(L, -2, i);
  }
  lua_setfield(L, a - 1, "actions");
  lua_pop(L, 1);
}

static void copy_string(lua_State *L, int pidx, int arg, const char *from, const char *to,
                        const char *const *choices)
{
  lua_getfield(L, pidx, from);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    props_error(L, arg, from, "must be a string");
  if (!acr_is_cstring(L, -1))
    props_error(L, arg, from, "must not contain a NUL byte");
  if (choices) {
    int i = 0;
    while (choices[i] && strcmp(choices[i], lua_tostring(L, -1)))
      i++;
    if (!choices[i])
      props_error(L, arg, from, lua_pushfstring(L, "must be '%s' or '%s'", choices[0], choices[1]));
  }
  lua_setfield(L, -2, to);
}

static void scope_map_props(lua_State *L, int pidx, int arg, int create)
{
  static const char *const allowed[] = {"actions", "description", NULL};
  check_fields(L, pidx, arg, allowed);
  lua_getfield(L, pidx, "actions");
  int has_actions = !lua_isnil(L, -1);
  lua_pop(L, 1);
  if (create || has_actions)
    copy_actions(L, pidx, arg);
  copy_string(L, pidx, arg, "description", "description", NULL);
}

static void token_props(lua_State *L, int cidx, int pidx, int arg, int create)
{
  static const char *const allowed[] = {"scope_map", "status", NULL};
  static const char *const statuses[] = {"enabled", "disabled", NULL};
  check_fields(L, pidx, arg, allowed);
  lua_getfield(L, pidx, "scope_map");
  int sm = lua_gettop(L);
  if (!lua_isnil(L, sm)) {
    acr_resource_push_id(L, cidx, sm, 0);
    lua_setfield(L, sm - 1, "scopeMapId");
  } else if (create) {
    props_error(L, arg, "scope_map", "is required (a ScopeMap, a name or a resource id)");
  }
  lua_pop(L, 1);
  copy_string(L, pidx, arg, "status", "status", statuses);
}

/* Pushes the JSON text {"properties": {...}} for props at pidx. */
static void push_body(lua_State *L, int cidx, acr_kind kind, int pidx, int arg, int create)
{
  acr_check_table(L, pidx);
  lua_createtable(L, 0, 1);
  lua_createtable(L, 0, 3);
  if (kind == ACR_KIND_TOKEN)
    token_props(L, cidx, pidx, arg, create);
  else
    scope_map_props(L, pidx, arg, create);
  lua_setfield(L, -2, "properties");
  if (!acr_json_encode(L, -1))
    acr_argerror(L, arg, "%s", lua_tostring(L, -1));
  lua_remove(L, -2);
}

static void push_write(lua_State *L, int cidx, acr_kind kind, const char *name, int pidx,
                       int parg, int create)
{
  cidx = lua_absindex(L, cidx);
  pidx = lua_absindex(L, pidx);
  acr_client *c = acr_check_client(L, cidx);
  push_body(L, cidx, kind, pidx, parg, create);
  int body = lua_gettop(L);
  acr_client_push_url(L, c, collections[kind], name);
  push_op(L, cidx, create ? "PUT" : "PATCH", body,
          kind == ACR_KIND_TOKEN ? ACR_SHAPE_TOKEN : ACR_SHAPE_SCOPEMAP, 1);
  lua_remove(L, body);
}

void acr_api_push_create(lua_State *L, int cidx, acr_kind kind, const char *name, int pidx,
                         int parg)
{
  push_write(L, cidx, kind, name, pidx, parg, 1);
}

void acr_api_push_update(lua_State *L, int cidx, acr_kind kind, const char *name, int pidx,
                         int parg)
{
  push_write(L, cidx, kind, name, pidx, parg, 0);
}

void acr_api_push_generate(lua_State *L, int cidx, int aidx, int token_idx, int arg)
{
  static const char *const allowed[] = {"token", "name", "expiry", NULL};
  static const char *const names[] = {"password1", "password2", NULL};
  cidx = lua_absindex(L, cidx);
  aidx = lua_absindex(L, aidx);
  acr_client *c = acr_check_client(L, cidx);
  acr_check_table(L, aidx);
  check_fields(L, aidx, arg, allowed);
  lua_createtable(L, 0, 3);
  if (token_idx) {
    lua_pushvalue(L, token_idx);
  } else {
    lua_getfield(L, aidx, "token");
    if (lua_isnil(L, -1))
      props_error(L, arg, "token", "is required (a Token, a name or a resource id)");
  }
  acr_resource_push_id(L, cidx, lua_gettop(L), 1);
  lua_setfield(L, -3, "tokenId");
  lua_pop(L, 1);
  copy_string(L, aidx, arg, "name", "name", names);
  copy_string(L, aidx, arg, "expiry", "expiry", NULL);
  if (!acr_json_encode(L, -1))
    acr_argerror(L, arg, "%s", lua_tostring(L, -1));
  lua_remove(L, -2);
  int body = lua_gettop(L);
  luaL_Buffer b;
  luaL_buffinit(L, &b);
  luaL_addstring(&b, c->endpoint);
  luaL_addstring(&b, c->registry_path);
  luaL_addstring(&b, "/generateCredentials?api-version=");
  luaL_addstring(&b, c->api_version);
  luaL_pushresult(&b);
  push_op(L, cidx, "POST", body, ACR_SHAPE_CREDENTIALS, 1);
  lua_remove(L, body);
}

/* ---- client methods ---- */

typedef void (*build_fn)(lua_State *L);

static int blocking(lua_State *L, build_fn build)
{
  build(L);
  return acr_op_wait(L, -1);
}

static int begin(lua_State *L, build_fn build)
{
  build(L);
  acr_op_start(L, -1);
  return 1;
}

static const char *name_arg(lua_State *L, acr_kind kind)
{
  const char *name = acr_check_cstring(L, 2);
  check_name(L, 2, kind, name);
  return name;
}

#define ACR_KIND_OPS(kind, K)                                                         \
  static void build_get_##kind(lua_State *L)                                          \
  {                                                                                   \
    acr_api_push_get(L, 1, K, name_arg(L, K));                                        \
  }                                                                                   \
  static void build_create_##kind(lua_State *L)                                       \
  {                                                                                   \
    acr_api_push_create(L, 1, K, name_arg(L, K), 3, 3);                               \
  }                                                                                   \
  static void build_update_##kind(lua_State *L)                                       \
  {                                                                                   \
    acr_api_push_update(L, 1, K, name_arg(L, K), 3, 3);                               \
  }                                                                                   \
  static void build_delete_##kind(lua_State *L)                                       \
  {                                                                                   \
    acr_api_push_delete(L, 1, K, name_arg(L, K));                                     \
  }                                                                                   \
  static int get_##kind(lua_State *L) { return blocking(L, build_get_##kind); }       \
  static int create_##kind(lua_State *L) { return blocking(L, build_create_##kind); } \
  static int update_##kind(lua_State *L) { return blocking(L, build_update_##kind); } \
  static int delete_##kind(lua_State *L) { return blocking(L, build_delete_##kind); } \
  static int begin_create_##kind(lua_State *L) { return begin(L, build_create_##kind); } \
  static int begin_update_##kind(lua_State *L) { return begin(L, build_update_##kind); } \
  static int begin_delete_##kind(lua_State *L) { return begin(L, build_delete_##kind); }

ACR_KIND_OPS(scope_map, ACR_KIND_SCOPEMAP)
ACR_KIND_OPS(token, ACR_KIND_TOKEN)

static void build_generate(lua_State *L)
{
  acr_api_push_generate(L, 1, 2, 0, 2);
}

/* syntax: creds, err = client:generate_credentials{token=, name=?, expiry=?} */
static int generate_credentials(lua_State *L) { return blocking(L, build_generate); }
static int begin_generate_credentials(lua_State *L) { return begin(L, build_generate); }

/* Enabling and disabling are updates of status alone. */
static void build_status(lua_State *L, const char *status)
{
  const char *name = name_arg(L, ACR_KIND_TOKEN);
  lua_createtable(L, 0, 1);
  lua_pushstring(L, status);
  lua_setfield(L, -2, "status");
  acr_api_push_update(L, 1, ACR_KIND_TOKEN, name, -1, 2);
  lua_remove(L, -2);
}

static void build_enable(lua_State *L) { build_status(L, "enabled"); }
static void build_disable(lua_State *L) { build_status(L, "disabled"); }
static int enable_token(lua_State *L) { return blocking(L, build_enable); }
static int disable_token(lua_State *L) { return blocking(L, build_disable); }
static int begin_enable_token(lua_State *L) { return begin(L, build_enable); }
static int begin_disable_token(lua_State *L) { return begin(L, build_disable); }

static const struct { const char *name; build_fn build; } prepared[] = {
  {"get_scope_map", build_get_scope_map}, {"create_scope_map", build_create_scope_map},
  {"update_scope_map", build_update_scope_map}, {"delete_scope_map", build_delete_scope_map},
  {"get_token", build_get_token}, {"create_token", build_create_token},
  {"update_token", build_update_token}, {"delete_token", build_delete_token},
  {"enable_token", build_enable}, {"disable_token", build_disable},
  {"generate_credentials", build_generate}, {"request", acr_request_build},
  {NULL, NULL}
};

/* One prepared operation, run as a closure named after it (upvalue 1) so its misuse
 * reads as the operation's own: bad argument #2 to 'create_token' (…). */
static int prepare_one(lua_State *L)
{
  prepared[lua_tointeger(L, lua_upvalueindex(2))].build(L);
  return 1;
}

/* syntax: op = client:prepare(name, ...)  -- the unsent operation of client:name(...),
 * for drivers other than the blocking one (e.g. acr.resty) and for replaying traffic */
static int prepare(lua_State *L)
{
  acr_check_client(L, 1);
  const char *name = acr_check_cstring(L, 2);
  int i = 0;
  while (prepared[i].name && strcmp(prepared[i].name, name))
    i++;
  if (!prepared[i].name)
    return acr_argerror(L, 2, "no operation named '%s'", name);
  lua_remove(L, 2);
  lua_pushstring(L, prepared[i].name);
  lua_pushinteger(L, i);
  lua_pushcclosure(L, prepare_one, 2);
  lua_insert(L, 1);   /* prepare_one(client, ...) */
  lua_call(L, lua_gettop(L) - 1, 1);
  return 1;
}

int acr_api_open(lua_State *L)
{
  static const luaL_Reg methods[] = {
    {"get_scope_map", get_scope_map},
    {"create_scope_map", create_scope_map},
    {"begin_create_scope_map", begin_create_scope_map},
    {"update_scope_map", update_scope_map},
    {"begin_update_scope_map", begin_update_scope_map},
    {"delete_scope_map", delete_scope_map},
    {"begin_delete_scope_map", begin_delete_scope_map},
    {"get_token", get_token},
    {"create_token", create_token},
    {"begin_create_token", begin_create_token},
    {"update_token", update_token},
    {"begin_update_token", begin_update_token},
    {"delete_token", delete_token},
    {"begin_delete_token", begin_delete_token},
    {"enable_token", enable_token},
    {"begin_enable_token", begin_enable_token},
    {"disable_token", disable_token},
    {"begin_disable_token", begin_disable_token},
    {"generate_credentials", generate_credentials},
    {"begin_generate_credentials", begin_generate_credentials},
    {"prepare", prepare},
    {NULL, NULL}
  };
  acr_add_methods(L, ACR_CLIENT_MT, methods);
  return 0;
}
