/* luaopen_acr: builds the module table from the parts of the core. */
#include "compat.h"
#include "version.h"

ACR_EXPORT int luaopen_acr(lua_State *L);

int luaopen_acr(lua_State *L)
{
  lua_newtable(L);
  lua_pushliteral(L, ACR_VERSION);
  lua_setfield(L, -2, "_VERSION");
  return 1;
}
