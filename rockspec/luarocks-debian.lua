-- luarocks configuration for installing this checkout's rock on Debian 12, for one
-- command (LUAROCKS_CONFIG stands in for ~/.luarocks/config-<version>.lua):
--   LUAROCKS_CONFIG=rockspec/luarocks-debian.lua luarocks --lua-version 5.4 --tree DIR make rockspec/lua-acr-scm-1.rockspec
--   LUAROCKS_CONFIG=rockspec/luarocks-debian.lua luarocks --lua-version 5.1 --tree DIR make rockspec/lua-acr-scm-1.rockspec
-- (5.1: LuaJIT). Nothing is fetched: the build needs only what apt installed.

-- lua-cjson and lyaml are apt's packages lua-cjson and lua-yaml (for Lua 5.1 to 5.4, on
-- every interpreter's default paths), which are in no luarocks tree: say they are
-- provided, as luarocks does for Lua itself, so the dependency check passes and the
-- default --deps-mode (one) stays, which is also what puts the tree's paths in the
-- tree's bin/acr wrapper.
rocks_provided = { ["lua-cjson"] = "2.1.0-1", lyaml = "6.2.8-1" }

-- luarocks calls LuaJIT "Lua 5.1". Left to itself it would take /usr/bin/lua5.1
-- (PUC Lua, which lua-acr does not support) and its headers; here 5.1 is Debian's
-- luajit2: /usr/bin/luajit, headers in /usr/include/luajit-2.1 (OpenResty's LuaJIT,
-- the one libnginx-mod-http-lua runs).
if lua_version == "5.1" then
  lua_interpreter = "luajit"
  variables.LUA_BINDIR = "/usr/bin"
  variables.LUA_INCDIR = "/usr/include/luajit-2.1"
end
