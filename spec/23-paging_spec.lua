-- Lists page with nextLink, lazily, one page held at a time.
local ch = require "client_helpers"

describe("paging #emulator", function()
  local em, client
  local start, stop = ch.suite({ retry_after = 0, polls = 0, page_size = 7, seed_data = 40 },
    nil,
    nil,
    function(e, c) em, client = e, c end)
  setup(start)
  teardown(stop)

  it("iterates every token across pages, in order, each once", function()
    em:reset()
    local names = {}
    for tok in client:tokens() do
      assert.are.equal("acr.Token", getmetatable(tok).__name)
      names[#names + 1] = tok.name
    end
    assert.are.equal(40, #names)
    assert.are.equal("seed-token-0001", names[1])
    assert.are.equal("seed-token-0040", names[40])
    assert.are.equal(6, ch.count_requests(em, "GET tokens"))  -- ceil(40 / 7)
  end)

  it("gives a page at a time with next_page, then nil", function()
    local pager = client:scope_maps()
    local sizes, total = {}, 0
    while true do
      local items, err = pager:next_page()
      assert.is_nil(err)
      if items == nil then break end
      sizes[#sizes + 1] = #items
      total = total + #items
      for _, sm in ipairs(items) do assert.are.equal("acr.ScopeMap", getmetatable(sm).__name) end
    end
    assert.are.equal(43, total)   -- 40 seeded + 3 system scope maps
    assert.are.same({ 7, 7, 7, 7, 7, 7, 1 }, sizes)
    assert.is_nil(pager:next_page())
    assert.matches("done", tostring(pager))
  end)

  it("can stop early: nothing more is fetched", function()
    em:reset()
    for _ in client:tokens() do break end
    assert.are.equal(1, ch.count_requests(em, "GET tokens"))
  end)

  it("keeps memory flat however many pages it reads", function()
    local samples, n = {}, 0
    for _ in client:tokens() do
      n = n + 1
      if n % 7 == 0 then
        collectgarbage(); collectgarbage()
        samples[#samples + 1] = collectgarbage("count")
      end
    end
    assert.is_true(#samples >= 5)
    assert.is_true(samples[#samples] - samples[1] < 32,
      ("grew from %.1f to %.1f KiB"):format(samples[1], samples[#samples]))
  end)

  it("pages any list with client:pages as plain tables", function()
    local n = 0
    for item in client:pages(em:registry_path() .. "/tokens") do
      assert.is_table(item)
      assert.is_string(item.properties.status)
      n = n + 1
    end
    assert.are.equal(40, n)
  end)
end)
