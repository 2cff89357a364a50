/* luaopen_acr: builds the module table from the parts of the core. Each part
 * registers its metatables and adds its functions; nothing is global in C. */
#include <curl/curl.h>

#include "api.h"
#include "auth.h"
#include "client.h"
#include "driver.h"
#include "error.h"
#include "http.h"
#include "json.h"
#include "luax.h"
#include "operation.h"
#include "pager.h"
#include "resource.h"
#include "secmem.h"
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
  acr_error_open(L);
  acr_operation_open(L);
  acr_resource_open(L);
  acr_auth_open(L);
  acr_client_open(L);
  acr_driver_open(L);
  acr_api_open(L);
  acr_pager_open(L);
  acr_request_open(L);
  return 1;
}
