rockspec_format = "3.0"
package = "lua-acr"
version = "scm-1"
source = { url = "git+file:///dev/null" }   -- built from a checkout: luarocks make
description = {
  summary = "Azure Container Registry scope maps and tokens, from Lua",
  detailed = [[
    A Lua module with a C core (libcurl, OpenSSL) for the ACR management API of
    scope maps and tokens: paging, long-running operations, retries, OAuth2.
    Brings the commands acr and acr-emulator (an offline stand-in for Azure
    Resource Manager, served by nginx + ngx_http_lua), the docs and the examples.]],
  license = "MIT",
}
-- Lua 5.4, or LuaJIT 2.1, which luarocks counts as Lua 5.1. PUC Lua 5.1 to 5.3 cannot
-- be told apart here: CMakeLists.txt refuses them, with a message, before compiling.
-- lua-cjson, and lyaml (desired-state files in YAML, docs/DESIRED.md): on Debian, apt's
-- lua-cjson and lua-yaml; luarocks cannot see them, and rockspec/luarocks-debian.lua
-- declares them provided (README, "Install").
dependencies = { "lua >= 5.1, < 5.5", "lua-cjson", "lyaml" }
-- libcurl and OpenSSL are found by CMake through pkg-config, which knows Debian's
-- multiarch include paths (luarocks' external_dependencies search does not).
build = {
  type = "cmake",
  variables = {
    -- everything CMake installs stays in this rock's directory of the tree
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    ACR_ROCK_LUA = "$(LUA)",           -- the interpreter the bin wrappers will run
    INSTALL_CMOD = "$(LIBDIR)",
    INSTALL_LMOD = "$(LUADIR)",
    ACR_TESTS = "OFF",
    CMAKE_BUILD_TYPE = "Release",
  },
  -- luarocks puts a wrapper for each in the tree's bin/: acr (Lua) runs under the tree's
  -- interpreter with the tree's paths; acr-emulator (bash) is copied and finds the
  -- emulator's Lua files under ../share/lua/<version> next to itself.
  install = { bin = { ["acr-emulator"] = "bin/acr-emulator", acr = "bin/acr" } },
  -- into the rock's directory (luarocks doc lua-acr lists them; acr -h names CLI.md)
  copy_directories = { "docs", "examples" },
}
test = { type = "busted" }
