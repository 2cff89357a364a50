-- client:request takes any method token, and client:pages can read a single page.
local ch = require "client_helpers"

describe("raw calls #emulator", function()
  local em, client

  local start, stop = ch.suite({ retry_after = 0, polls = 0, seed_data = 5, page_size = 2 },
    nil,
    nil,
    function(e, c) em, client = e, c end)
  setup(start)
  teardown(stop)

  it("sends HEAD and returns status and headers, no body", function()
    local res = assert(client:request("HEAD", em:registry_path() .. "/tokens"))
    assert.are.equal(200, res.status)
    assert.is_table(res.headers)
    assert.is_nil(res.body)
  end)

  it("sends OPTIONS and other method tokens as they are", function()
    local _, err = client:request("OPTIONS", em:registry_path() .. "/tokens")
    assert.are.equal(405, err.status)          -- what ARM answers; it was sent as asked
    local log = em:log()
    assert.are.equal("OPTIONS", log[#log].method)
  end)

  it("refuses what is not a method token, naming the argument", function()
    for _, m in ipairs{ "get", "G ET", "", "GET\r\nX: y", ("A"):rep(16), 42 } do
      ch.raises("bad argument #2 .*an HTTP method expected", client.request, client, m, "/x")
    end
  end)

  it("reads one page and stops with next_link = false", function()
    local pager = client:pages(em:registry_path() .. "/tokens", { next_link = false })
    local items = assert(pager:next_page())
    assert.are.equal(2, #items)
    assert.is_nil(pager:next_page())
    local n = 0
    for _ in client:pages(em:registry_path() .. "/tokens") do n = n + 1 end
    assert.are.equal(5, n)   -- with the nextLink followed: all of them
  end)
end)
