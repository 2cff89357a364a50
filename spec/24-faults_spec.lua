-- Under a 30 % fault rate (429, 500, 503, dropped connections) every call still
-- succeeds, nothing is created twice and nothing is lost.
local ch = require "client_helpers"
local helpers = ch.helpers

describe("faults #emulator #slow", function()
  local em, client
  setup(function()
    em = helpers.start_emulator{ retry_after = 0, polls = 1, fail_rate = 0.3, seed = 7, page_size = 4 }
    client = ch.client(em, { retry = { max_retries = 8, base_delay = 0.01, max_delay = 5 } })
  end)
  teardown(function()
    if client then client:close() end
    if em then em:stop() end
  end)

  for _, style in ipairs{ "realistic", "async", "location", "body" } do
    it("runs a lifecycle of 6 tokens in the " .. style .. " style", function()
      em:settings{ lro_style = style }
      em:reset()
      local sm = assert(client:create_scope_map(ch.unique("flt"), { actions = { "repositories/a/content/read" } }))
      local names = {}
      for i = 1, 6 do
        local name = ch.unique("flt" .. i)
        local tok = assert(client:create_token(name, { scope_map = sm }))
        assert(tok:generate_credentials{ name = "password1" })
        assert(tok:disable())
        names[name] = true
      end
      local seen, dupes = {}, 0
      for tok in client:tokens() do
        if seen[tok.name] then dupes = dupes + 1 end
        seen[tok.name] = true
        assert.are.equal("disabled", tok.status)
      end
      assert.are.equal(0, dupes)
      for name in pairs(names) do assert.is_true(seen[name], name .. " lost") end
      local n = 0
      for _ in pairs(seen) do n = n + 1 end
      assert.are.equal(6, n)
      for name in pairs(names) do assert(client:delete_token(name)) end
      assert(sm:delete())
      for _ in client:tokens() do error("a token survived its delete") end
    end)
  end

  it("really injected faults", function()
    local log = em:log()
    local faults = 0
    for _, e in ipairs(log) do
      if e.status == 429 or e.status == 500 or e.status == 503 or e.status == 444 or e.status == 499 then
        faults = faults + 1
      end
    end
    assert.is_true(faults >= 5, "only " .. faults .. " faults in " .. #log .. " requests")
  end)
end)

describe("a dropped connection under a request that must not be repeated #emulator", function()
  local em
  setup(function() em = helpers.start_emulator{ retry_after = 0, polls = 0 } end)
  teardown(function() if em then em:stop() end end)

  it("reaches the server once, and the caller is told", function()
    local c = ch.client(em, { retry = { max_retries = 3, base_delay = 0.01, max_delay = 1 } })
    -- a kept-alive connection first, so that libcurl would have one to reuse
    assert(c:request("GET", c:registry_id() .. "/tokens"))
    em:admin("POST", "inject", { path = "/generateCredentials", method = "POST", drop = true, times = 1 })
    local res, err = c:request("POST", c:registry_id() .. "/generateCredentials", { body = {} })
    assert.is_nil(res)
    assert.are.equal("ConnectionFailed", err.code)
    assert.are.equal(1, ch.count_requests(em, "POST injected"))
    assert.are.equal(0, ch.count_requests(em, "POST generateCredentials"))
    -- a GET, which may be repeated, still runs on the kept connection and is retried
    em:admin("POST", "inject", { path = "/tokens", method = "GET", drop = true, times = 1 })
    assert(c:request("GET", c:registry_id() .. "/tokens"))
    assert.are.equal(1, ch.count_requests(em, "GET injected"))
    c:close()
  end)
end)
