-- The module builds, loads in this flavour, and installs with luarocks.
local flavour = os.getenv("ACR_FLAVOUR") or "lua5.4"

local function sh(cmd)
  local p = io.popen(cmd .. " 2>&1")
  local out = p:read("*a")
  local ok, _, code = p:close()
  if type(ok) == "number" then code = ok; ok = code == 0 end -- LuaJIT's close
  return ok == true or ok == 0, out, code
end

describe("acr module #build", function()
  it("loads and reports its version", function()
    local acr = require "acr"
    assert.is_table(acr)
    assert.matches("^%d+%.%d+%.%d+$", acr._VERSION)
  end)

  it("exports only luaopen_acr from the shared object", function()
    local so = package.searchpath("acr", package.cpath)
    assert.truthy(so, "acr.so not on package.cpath")
    local ok, out = sh("nm -D --defined-only " .. so .. " | awk '$2==\"T\"{print $3}'")
    assert.is_true(ok, out)
    assert.are.equal("luaopen_acr\n", out)
  end)

  it("installs with luarocks make and the installed copy loads", function()
    local _, tmp = sh("mktemp -d")
    tmp = tmp:gsub("%s+$", "")
    local src = tmp .. "/src"
    local tree = tmp .. "/tree"
    local here = debug.getinfo(1, "S").source:sub(2):match("^(.*)/spec/[^/]*$") or "."
    -- A private copy, so that parallel flavours do not share luarocks' build folder.
    assert(sh(("mkdir -p %s && cd %s && tar cf - CMakeLists.txt src lua bin rockspec | tar xf - -C %s")
      :format(src, here, src)))
    local luaver, extra, interp = "5.4", "", "lua5.4"
    if flavour == "luajit" then
      luaver, extra, interp = "5.1", "LUA_INCDIR=/usr/include/luajit-2.1", "luajit"
    end
    local ok, out = sh(("cd %s && luarocks --lua-version %s --tree %s make --deps-mode=none rockspec/lua-acr-scm-1.rockspec %s")
      :format(src, luaver, tree, extra))
    assert.is_true(ok, out)
    local ok2, out2 = sh(("cd / && %s -e 'package.cpath=\"%s/lib/lua/%s/?.so;\"..package.cpath package.path=\"%s/share/lua/%s/?.lua;\"..package.path print(require(\"acr\")._VERSION)'")
      :format(interp, tree, luaver, tree, luaver))
    assert.is_true(ok2, out2)
    assert.matches("^%d+%.%d+%.%d+", out2)
    sh("rm -rf " .. tmp)
  end)
end)
