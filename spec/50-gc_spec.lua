-- Objects and operations are collected when dropped, and repeated use does not grow memory.
local ch = require "client_helpers"
local helpers = ch.helpers

local function collect()
  collectgarbage(); collectgarbage()
end

describe("garbage collection #emulator #gc", function()
  local em
  setup(function() em = helpers.start_emulator{ retry_after = 0, polls = 1 } end)
  teardown(function() if em then em:stop() end end)

  it("collects clients, operations, objects and pagers once unreferenced", function()
    local weak = setmetatable({}, { __mode = "k" })
    do
      local c = ch.client(em)
      local sm = assert(c:create_scope_map(ch.unique("gc"), { actions = { "repositories/a/content/read" } }))
      local op = c:begin_create_token(ch.unique("gc"), { scope_map = sm })
      local tok = assert(op:wait())
      local pager = c:tokens()
      pager:next_page()
      local creds = assert(tok:generate_credentials())
      for _, v in ipairs{ c, sm, op, tok, pager, creds } do weak[v] = true end
      assert(tok:delete()); assert(sm:delete())
    end
    collect()
    assert.are.same({}, weak)
  end)

  it("keeps the client alive while an object made by it is referenced", function()
    local weak = setmetatable({}, { __mode = "v" })
    local sm
    do
      local c = ch.client(em)
      weak[1] = c
      sm = assert(c:create_scope_map(ch.unique("gc"), { actions = { "repositories/a/content/read" } }))
    end
    collect()
    assert.truthy(weak[1])           -- still owned through sm
    assert(sm:refresh())             -- and still usable
    assert(sm:delete())
    sm = nil
    collect()
    assert.is_nil(weak[1])
  end)

  it("does not grow memory over many calls", function()
    local c = ch.client(em)
    local name = ch.unique("gc")
    assert(c:create_scope_map(name, { actions = { "repositories/a/content/read" } }))
    local function round()
      for _ = 1, 50 do
        assert(c:get_scope_map(name))
        assert.is_nil((c:get_token("nosuch-token")))
      end
    end
    round(); collect()
    local before = collectgarbage("count")
    for _ = 1, 4 do round() end
    collect()
    local after = collectgarbage("count")
    assert.is_true(after - before < 64, ("grew %.1f KiB"):format(after - before))
    assert(c:delete_scope_map(name))
  end)
end)

-- When a state closes, Lua 5.4 runs no finalizer for an object made by another
-- finalizer (lua_close: "marks have no effect"), so an operation made then is freed
-- with the state, never finalized: it must own nothing its __gc would have to free.
-- The child runs that in a fresh interpreter of this flavour; under lua5.4-asan its
-- exit fails on a leak, and in every flavour the finalizer must get to its end.
describe("operations made while the state closes #gc", function()
  local CHILD = [[
    io.stdout:setvbuf("no")   -- what the finalizer prints survives a crash at exit
    local acr, cjson = require "acr", require "cjson"
    local REG = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myregistry"
    local c = acr.client{ subscription_id = "sub", resource_group = "rg", registry = "myregistry",
      credential = acr.credential.static("tok"), endpoint = "http://127.0.0.1:9", retry = 0 }
    local early = c:prepare("get_token", "early-token")   -- finalized during the close too
    local function run()
      -- a PUT with a body that polls Azure-AsyncOperation, then GETs the scope map
      local op = c:prepare("create_scope_map", "gc-at-close", { actions = { "repositories/a/content/read" } })
      assert(cjson.decode(op:next_request().body).properties.actions[1] == "repositories/a/content/read")
      op:feed(201, { ["azure-asyncoperation"] = "http://127.0.0.1:9/status/1",
                     location = "http://127.0.0.1:9/location/1" }, "{}")
      assert(op:next_request().url == "http://127.0.0.1:9/status/1")
      op:feed(200, {}, '{"status":"Succeeded"}')
      assert(op:next_request().url:find(REG .. "/scopeMaps/gc-at-close", 1, true))
      op:feed(200, {}, cjson.encode{ id = REG .. "/scopeMaps/gc-at-close", name = "gc-at-close",
                                      properties = { actions = { "repositories/a/content/read" } } })
      local sm = assert(op:result())
      local pager = c:tokens()
      local page = pager:next_operation()
      page:feed(200, {}, '{"value":[]}')
      assert(#assert(pager:take(page)) == 0)
      print("finalizer made " .. sm.name .. " through " .. tostring(op))
    end
    local function finalizer()
      local ok, err = pcall(run)
      if not ok then print("finalizer failed: " .. tostring(err)) end
    end
    -- (LuaJIT, like Lua 5.1, finalizes userdata only: a proxy there)
    local last = newproxy and newproxy(true) or setmetatable({}, { __gc = finalizer })
    if newproxy then getmetatable(last).__gc = finalizer end
    _G.keep = { c, early, last }
  ]]

  it("frees everything they hold, and they work", function()
    local ok, out, code = helpers.run_lua({}, CHILD)
    assert.matches("finalizer made gc%-at%-close through acr%.Operation%(PUT ", out)
    assert.is_nil(out:find("finalizer failed", 1, true), out)
    assert.is_nil(out:find("LeakSanitizer", 1, true), out)
    assert.is_true(ok, ("exit %s: %s"):format(tostring(code), out))
  end)
end)
