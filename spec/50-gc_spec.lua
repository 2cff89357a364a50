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
