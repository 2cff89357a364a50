rockspec_format = "3.0"
package = "lua-acr"
version = "scm-1"
source = { url = "git+file:///dev/null" }
description = {
  summary = "Azure Container Registry scope maps and tokens, from Lua",
  detailed = [[
    A Lua module with a C core (libcurl, OpenSSL) for the ACR management API of
    scope maps and tokens: paging, long-running operations, retries, OAuth2.]],
  license = "MIT",
}
dependencies = { "lua >= 5.1", "lua-cjson" }
-- libcurl and OpenSSL are found by CMake through pkg-config, which knows Debian's
-- multiarch include paths (luarocks' external_dependencies search does not).
build = {
  type = "cmake",
  variables = {
    LUA_INCDIR = "$(LUA_INCDIR)",
    INSTALL_CMOD = "$(LIBDIR)",
    INSTALL_LMOD = "$(LUADIR)",
    ACR_TESTS = "OFF",
    CMAKE_BUILD_TYPE = "Release",
  },
  install = { bin = { ["acr-emulator"] = "bin/acr-emulator", acr = "bin/acr" } },
}
test = { type = "busted" }
