-- The module builds and loads in this flavour; the rock installs, as a Lua user would
-- install it (README, "Install"), into a temporary tree, and works from that tree alone.
local helpers = require "helpers"
local cjson = require "cjson.safe"

local q, sh = helpers.quote, helpers.sh
local flavour = os.getenv("ACR_FLAVOUR") or "lua5.4"

describe("acr module #build", function()
  it("loads and reports its version", function()
    local acr = require "acr"
    assert.is_table(acr)
    assert.matches("^%d+%.%d+%.%d+$", acr._VERSION)
  end)

  it("exports only luaopen_acr from the shared object", function()
    local so = package.searchpath("acr", package.cpath)
    assert.truthy(so, "acr.so not on package.cpath")
    local ok, out = sh("nm -D --defined-only " .. q(so) .. " | awk '$2==\"T\"{print $3}'")
    assert.is_true(ok, out)
    assert.are.equal("luaopen_acr\n", out)
  end)
end)

-- The rock of this flavour's interpreter: luarocks calls LuaJIT "Lua 5.1".
local ROCKS = {
  ["lua5.4"] = { luaver = "5.4", interp = "/usr/bin/lua5.4" },
  luajit = { luaver = "5.1", interp = "/usr/bin/luajit" },
}
local rock = ROCKS[flavour]

if not rock then
  describe("the luarocks rock #build", function()
    pending("the rock's module is luarocks' own Release build, not this flavour's (" .. flavour
      .. "): the lua5.4 and luajit flavours install and test the Lua 5.4 and LuaJIT rocks")
  end)
  return
end

local SUB, RG, REG = "00000000-0000-0000-0000-000000000001", "rg-rock", "rockregistry"
local TENANT = "00000000-0000-0000-0000-0000000000e1"
local ROCKSPEC = "rockspec/lua-acr-scm-1.rockspec"

-- Every command runs from a clean environment (no LUA_PATH, no LUA_CPATH, no PATH entry
-- that holds an installed acr: /usr/local/bin is left out), with HOME and TMPDIR in the
-- temporary directory, and, when this runs as root, as the user nobody: it then cannot
-- write anywhere but the temporary directory, which it owns. setpriv is util-linux's,
-- in every Debian 12.
local own_pid = helpers.own_pid

describe("the luarocks rock #build", function()
  local tmp, tree, src, work, user
  local em_url, em_dir
  local made_ok, made_out
  local as_user = ""

  -- syntax: ok, out, code = run(cmd, env?, cwd?)   cmd: a list of arguments; cwd: work
  local function run(cmd, env, cwd)
    local parts = { "cd " .. q(cwd or work) .. " && env -i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
      q("HOME=" .. tmp .. "/home"), q("TMPDIR=" .. tmp .. "/tmp"), "LANG=C.UTF-8" }
    -- the suite's loopback guard (src/netguard.h), with a log of this spec's own (the
    -- user nobody cannot write the suite's): the last test below reads it
    parts[#parts + 1] = q("ACR_LOOPBACK_GUARD=" .. tmp .. "/loopback-guard.log")
    for k, v in pairs(env or {}) do parts[#parts + 1] = q(k .. "=" .. v) end
    parts[#parts + 1] = as_user
    for _, a in ipairs(cmd) do parts[#parts + 1] = q(a) end
    return sh(table.concat(parts, " ") .. " </dev/null")
  end

  local function tree_path(...)
    return tree .. "/" .. table.concat({ ... }, "/")
  end

  lazy_setup(function()
    tmp = helpers.tmpdir("acr-rock-" .. flavour)
    tree, src, work = tmp .. "/tree", tmp .. "/src", tmp .. "/work"
    assert(sh(("touch %s/STAMP && mkdir -p %s/home %s/tmp %s %s && chmod 755 %s")
      :format(q(tmp), q(tmp), q(tmp), q(src), q(work), q(tmp))))
    -- A private copy of the sources to build from (luarocks builds in the source
    -- folder, build.luarocks/: parallel flavours must not share one), removed once
    -- the rock is installed.
    assert(sh(("cd %s && tar cf - CMakeLists.txt src lua bin rockspec docs examples | tar xf - -C %s")
      :format(q(helpers.root), q(src))))
    local _, uid = sh("id -u")
    if uid:match("^0%s*$") then
      local have = sh("command -v setpriv && id nobody && getent group nogroup")
      if have and sh("chown -R nobody:nogroup " .. q(tmp)) then
        as_user = "setpriv --reuid=nobody --regid=nogroup --clear-groups"
        -- nobody must reach tmp: a TMPDIR under a private directory would stop it
        if not run({ "test", "-w", tmp .. "/home" }) then as_user = "" end
      end
    end
    user = select(2, run({ "id", "-un" })):gsub("%s+$", "")

    made_ok, made_out = run({ "luarocks", "--lua-version", rock.luaver, "--tree", tree, "make",
      ROCKSPEC }, { LUAROCKS_CONFIG = "rockspec/luarocks-debian.lua" }, src)
    helpers.rmdir(src)
    if not made_ok then return end

    em_dir = tmp .. "/em"
    local ok, out = run({ tree_path("bin", "acr-emulator"), "start", "--dir", em_dir,
      "--seed-data", "2", "--registry", SUB .. "/" .. RG .. "/" .. REG, "--watch-pid", own_pid() })
    assert(ok, "acr-emulator start (from the tree) failed: " .. out)
    em_url = out:match("^(http://127%.0%.0%.1:%d+)\n")
    assert(em_url, out)
  end)

  lazy_teardown(function()
    if em_dir then run({ tree_path("bin", "acr-emulator"), "stop", "--dir", em_dir }) end
    helpers.rmdir(tmp)
  end)

  local function installed()
    assert(made_ok, "luarocks make failed (as " .. tostring(user) .. "):\n" .. tostring(made_out))
  end

  it("installs with luarocks make into a tree, as a non-root user when run as root", function()
    installed()
    if as_user ~= "" then assert.are.equal("nobody", user) end
    local V = rock.luaver
    local rockdir = tree_path("lib/luarocks/rocks-" .. V, "lua-acr", "scm-1")
    for _, f in ipairs { tree_path("lib/lua", V, "acr.so"), tree_path("share/lua", V, "acr/cli/init.lua"),
        tree_path("share/lua", V, "acr/resty.lua"), tree_path("share/lua", V, "acr/emulator/init.lua"),
        tree_path("bin/acr"), tree_path("bin/acr-emulator"), rockdir .. "/docs/CLI.md",
        rockdir .. "/docs/API.md", rockdir .. "/docs/RESTY.md", rockdir .. "/examples/rotate-token.lua" } do
      assert.truthy(helpers.read_file(f), f .. " is not in the tree")
    end
    -- every part of the command line, of acr.resty and of the emulator, as the checkout
    -- has them
    for folder, one in pairs { cli = "args.lua", resty = "wrap.lua", emulator = "items.lua" } do
      local _, parts = sh("cd " .. q(helpers.root .. "/lua/acr/" .. folder) .. " && ls *.lua")
      assert.truthy(parts:find(one, 1, true), parts)
      for part in parts:gmatch("[^\n]+") do
        local f = tree_path("share/lua", V, "acr/" .. folder .. "/" .. part)
        assert.truthy(helpers.read_file(f), f .. " is not in the tree")
      end
    end
    -- bin/acr is luarocks' wrapper: the tree's interpreter, the tree's paths
    local wrapper = helpers.read_file(tree_path("bin/acr"))
    assert.truthy(wrapper:find("exec '" .. rock.interp .. "'", 1, true), wrapper)
    assert.truthy(wrapper:find(tree_path("share/lua", V, "?.lua"), 1, true), wrapper)
    -- nothing in the tree refers to the checkout or to the copy it was built from
    local _, refs = sh(("grep -rlF -e %s -e %s %s"):format(q(helpers.root), q(src), q(tree)))
    assert.are.equal("", refs)
  end)

  it("writes nothing outside the tree and the temporary directory", function()
    installed()
    local home = os.getenv("HOME") or "/root"
    local dirs = {}
    for _, d in ipairs { "/usr/local", "/etc/luarocks", home .. "/.luarocks", home .. "/.cache/luarocks" } do
      dirs[#dirs + 1] = q(d)
    end
    local _, out = sh(("find %s -newer %s 2>/dev/null"):format(table.concat(dirs, " "), q(tmp .. "/STAMP")))
    assert.are.equal("", out)
  end)

  it("a Lua script requires acr from the tree and drives the emulator", function()
    installed()
    local V = rock.luaver
    helpers.write_file(work .. "/drive.lua", ([[
local acr = require "acr"
local url = assert(arg[1])
local p = assert(io.popen("curl -s --max-time 10 -X POST " .. url .. "/__admin/token"))
local body = p:read("*a")
p:close()
local token = assert(body:match('"access_token"%%s*:%%s*"([^"]+)"'), "no token in: " .. body)
local client = acr.client{ subscription_id = %q, resource_group = %q, registry = %q,
  endpoint = url, credential = acr.credential.static(token) }
print("module " .. package.searchpath("acr", package.cpath))
print("cli " .. package.searchpath("acr.cli", package.path))
print("resty " .. package.searchpath("acr.resty", package.path))
local sm = assert(client:create_scope_map("rock-pull", {
  actions = { "repositories/app/content/read" }, description = "from the rock" }))
print("created " .. sm.name .. " " .. sm.provisioning_state)
for s in client:scope_maps() do print("listed " .. s.name) end
]]):format(SUB, RG, REG))
    sh("chmod 644 " .. q(work .. "/drive.lua"))
    local lpath = tree_path("share/lua", V, "?.lua") .. ";" .. tree_path("share/lua", V, "?/init.lua") .. ";;"
    local cpath = tree_path("lib/lua", V, "?.so") .. ";;"
    local ok, out = run({ rock.interp, "drive.lua", em_url }, { LUA_PATH = lpath, LUA_CPATH = cpath })
    assert.is_true(ok, out)
    assert.truthy(out:find("module " .. tree_path("lib/lua", V, "acr.so") .. "\n", 1, true), out)
    assert.truthy(out:find("cli " .. tree_path("share/lua", V, "acr/cli/init.lua") .. "\n", 1, true), out)
    assert.truthy(out:find("resty " .. tree_path("share/lua", V, "acr/resty.lua") .. "\n", 1, true), out)
    assert.truthy(out:find("created rock-pull Succeeded\n", 1, true), out)
    assert.truthy(out:find("listed rock-pull\n", 1, true), out)
  end)

  it("acr token list runs from the tree's bin, with the tree's interpreter", function()
    installed()
    local env = {
      AZURE_TENANT_ID = TENANT, AZURE_CLIENT_ID = "00000000-0000-0000-0000-0000000000c1",
      AZURE_CLIENT_SECRET = "emulator-secret", AZURE_AUTHORITY_HOST = em_url,
      AZURE_SUBSCRIPTION_ID = SUB, ACR_IMDS_ENDPOINT = em_url,
    }
    local ok, out = run({ tree_path("bin/acr"), "token", "list", "--endpoint", em_url, "-g", RG, "-r", REG }, env)
    assert.is_true(ok, out)
    local list = cjson.decode(out)
    assert.is_table(list, out)
    local names = {}
    for _, t in ipairs(list) do names[#names + 1] = t.name end
    table.sort(names)
    assert.are.same({ "seed-token-0001", "seed-token-0002" }, names)
    -- acr -h names the docs the rock installed
    local _, help = run({ tree_path("bin/acr"), "-h" })
    local doc = help:match("See (%S+CLI%.md)%.")
    assert.are.equal(tree_path("lib/luarocks/rocks-" .. rock.luaver, "lua-acr/scm-1/docs/CLI.md"), doc)
    local _, version = run({ tree_path("bin/acr"), "--version" })
    assert.matches("^acr %d+%.%d+%.%d+\n$", version)
    -- a desired-state file in YAML: lyaml, the rock's dependency (apt's lua-yaml here)
    local f = assert(io.open(work .. "/desired.yaml", "w"))
    f:write("registries:\n  - subscription: ", SUB, "\n    resource_group: ", RG, "\n    name: ", REG,
            "\n    scope_maps:\n      rock-desired:\n        actions: [repositories/app/content/read]\n")
    f:close()
    local pok, plan = run({ tree_path("bin/acr"), "plan", "-f", "desired.yaml", "--endpoint", em_url,
                            "--ledger", work .. "/ledger.json", "-o", "json", "--only-show-errors" }, env)
    assert.is_true(pok, plan)
    local changes = (cjson.decode(plan) or {}).changes or {}
    assert.are.equal(1, #changes, plan)
    assert.are.same({ "create", "scope_map", "rock-desired" }, { changes[1].action, changes[1].kind, changes[1].name })
  end)

  it("acr-emulator starts, answers and stops from the tree, with the tree's Lua files", function()
    installed()
    local dir = tmp .. "/em2"
    local emu = tree_path("bin/acr-emulator")
    -- in a shell set up as README's "Install" says: PATH, LUA_PATH and LUA_CPATH from
    -- luarocks path (this interpreter's, which nginx's LuaJIT must not take up)
    local ok, out = run({ "sh", "-c", 'eval "$(luarocks --lua-version "$1" --tree "$2" path)" && '
      .. 'command -v acr-emulator && acr-emulator start --dir "$3" --watch-pid "$4"', "sh",
      rock.luaver, tree, dir, own_pid() })
    assert.is_true(ok, out)
    assert.are.equal(emu, out:match("^([^\n]*)\n"))
    local url = out:match("\n(http://127%.0%.0%.1:%d+)\n")
    assert.truthy(url, out)
    local conf = helpers.read_file(dir .. "/nginx.conf") or ""
    assert.truthy(conf:find('lua_package_path "' .. tree_path("share/lua", rock.luaver, "?.lua;"), 1, true), conf)
    local ok2, ping = run({ "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", url .. "/__admin/ping" })
    assert.is_true(ok2, ping)
    assert.are.equal("200", ping)
    local ok3, status = run({ emu, "status", "--dir", dir })
    assert.is_true(ok3, status)
    assert.are.equal(url .. "\n", status)
    local ok4, stopped = run({ emu, "stop", "--dir", dir })
    assert.is_true(ok4, stopped)
    assert.is_false((run({ emu, "status", "--dir", dir })))
    assert.is_false((run({ "curl", "-s", "--max-time", "2", url .. "/__admin/ping" })))
  end)

  it("made no connection outside loopback", function()
    installed()
    assert.are.equal("", helpers.read_file(tmp .. "/loopback-guard.log") or "")
  end)
end)
