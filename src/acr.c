/* luaopen_acr: builds the module table from the parts of the core. Each part
 * registers its metatables and adds its functions; nothing is global in C. */
#include <string.h>

#include <curl/curl.h>

#include "api.h"
#include "auth.h"
#include "client.h"
#include "driver.h"
#include "error.h"
#include "http.h"
#include "json.h"
#include "luax.h"
#include "names.h"
#include "operation.h"
#include "pager.h"
#include "resource.h"
#include "secmem.h"
#include "sys.h"
#include "version.h"

ACR_EXPORT int luaopen_acr(lua_State *L);

/* syntax: bool = acr.is_error(v) */
static int is_error(lua_State *L)
{
  int r = 0;
  if (lua_getmetatable(L, 1)) {
    luaL_getmetatable(L, ACR_ERROR_MT);
    r = lua_rawequal(L, -1, -2);
  }
  lua_pushboolean(L, r);
  return 1;
}

/* syntax: err = acr.error(code, message [, status]) -- a new acr.Error, for other drivers */
static int new_error(lua_State *L)
{
  const char *code = acr_check_cstring(L, 1);
  const char *msg = acr_opt_cstring(L, 2, code);
  lua_Integer status = lua_isnoneornil(L, 3) ? 0 : acr_check_integer(L, 3);
  acr_error_push(L, code, msg, (long)status);
  return 1;
}

/* syntax: bool = acr._valid_name(kind, s) -- kind "registry", "resource_group",
 * "scope_map" or "token": the core's own rules (names.h), for the Lua parts that check
 * names before any client exists (a desired-state file). Not a string: false. */
static int valid_name(lua_State *L)
{
  static const char *const kinds[] = {"registry", "resource_group", "scope_map", "token", NULL};
  const char *k = acr_check_cstring(L, 1);
  int kind = 0;
  while (kinds[kind] && strcmp(kinds[kind], k))
    kind++;
  if (!kinds[kind])
    acr_argerror(L, 1, "kind '%s' is not registry, resource_group, scope_map or token", k);
  size_t len;
  const char *s = lua_type(L, 2) == LUA_TSTRING ? lua_tolstring(L, 2, &len) : NULL;
  int ok = 0;
  if (s) {
    switch (kind) {
    case 0: ok = acr_registry_name_valid(s, len); break;
    case 1: ok = acr_resource_group_valid(s, len); break;
    default: ok = acr_name_valid(s, len, kind == 3); break;
    }
  }
  lua_pushboolean(L, ok);
  return 1;
}

/* syntax: bool = acr._valid_action(s) -- a scope map action by the rule create_scope_map
 * applies (names.h); not a string: false. */
static int valid_action(lua_State *L)
{
  size_t len;
  const char *s = lua_type(L, 1) == LUA_TSTRING ? lua_tolstring(L, 1, &len) : NULL;
  lua_pushboolean(L, s && acr_action_valid(s, len));
  return 1;
}

/* syntax: plan, err = acr.plan(client_or_clients, desired, opts?)  -- acr.desired.plan,
 * loaded when first called: a script that never plans loads none of its Lua parts */
static int plan(lua_State *L)
{
  int n = lua_gettop(L);
  lua_getglobal(L, "require");
  lua_pushliteral(L, "acr.desired");
  lua_call(L, 1, 1);
  lua_getfield(L, -1, "plan");
  lua_insert(L, 1);
  lua_pop(L, 1);
  lua_call(L, n, LUA_MULTRET);
  return lua_gettop(L);
}

int luaopen_acr(lua_State *L)
{
  /* First: libcurl takes its allocator only before anything else initialises it. */
  if (acr_secmem_curl_init() != 0 || acr_http_global_init() != 0)
    return luaL_error(L, "acr: libcurl failed to initialise");
  acr_json_open(L);
  lua_newtable(L);
  lua_pushliteral(L, ACR_VERSION);
  lua_setfield(L, -2, "_VERSION");
  acr_pushfunc(L, is_error, "acr.is_error");
  lua_setfield(L, -2, "is_error");
  acr_pushfunc(L, new_error, "acr.error");
  lua_setfield(L, -2, "error");
  acr_pushfunc(L, valid_name, "acr._valid_name");
  lua_setfield(L, -2, "_valid_name");
  acr_pushfunc(L, valid_action, "acr._valid_action");
  lua_setfield(L, -2, "_valid_action");
  acr_pushfunc(L, plan, "acr.plan");
  lua_setfield(L, -2, "plan");
  acr_error_open(L);
  acr_operation_open(L);
  acr_resource_open(L);
  acr_auth_open(L);
  acr_client_open(L);
  acr_driver_open(L);
  acr_api_open(L);
  acr_pager_open(L);
  acr_request_open(L);
  acr_sys_open(L);
  return 1;
}
