-- Many operations at once on one thread: the blocking driver runs every started
-- operation of a client together (libcurl's multi interface). Ratios, not times: the
-- machines that run this are shared.
local ch = require "client_helpers"
local helpers = ch.helpers
local acr = require "acr"

local now, max_overlap = ch.monotime, ch.max_overlap

-- The documented pattern: poll each, then wait up to the soonest one's delay.
local function drive_all(ops)
  while true do
    local soonest
    for _, op in ipairs(ops) do
      if not op:done() then
        op:poll()
        if not op:done() and (not soonest or op:delay() < soonest:delay()) then soonest = op end
      end
    end
    if not soonest then return end
    soonest:wait(soonest:delay())
  end
end

local begin_get = ch.begin_get

describe("concurrency #emulator", function()
  local em, client
  local N = 16

  local start, stop, fresh = ch.suite({ retry_after = 0, polls = 1 },
    { retry = { max_retries = 5, base_delay = 0.01, max_delay = 0.5 } },
    { lro_style = "realistic", polls = 1, retry_after = 0, latency_ms = 0, fail_rate = 0 },
    function(e, c) em, client = e, c end)
  setup(start)
  teardown(stop)
  before_each(fresh)

  local function log_mark() return ch.log_mark(em) end
  local function log_since(mark) return ch.log_since(em, mark) end
  local function count_since(mark, kind) return ch.count_since(em, mark, kind) end

  local function seed_tokens(prefix, n) return ch.seed_tokens(client, prefix, n) end

  it("overlaps the requests of different operations, and finishes well under N times one", function()
    local names = seed_tokens("cc", N)
    em:settings{ latency_ms = 200 }
    local t0 = now()
    assert(client:get_token(names[1]))
    local one = now() - t0
    local mark = log_mark()
    t0 = now()
    local ops = {}
    for i, name in ipairs(names) do ops[i] = client:prepare("get_token", name) end
    drive_all(ops)
    local all = now() - t0
    for i, op in ipairs(ops) do assert.are.equal(names[i], assert(op:result()).name) end
    local log = log_since(mark)
    assert.are.equal(N, #log)
    assert.is_true(max_overlap(log) >= N, "at most " .. max_overlap(log) .. " at once")
    assert.is_true(all < one * N / 4, ("%d gets took %.2f s, one %.2f s"):format(N, all, one))
  end)

  it("gives the results a sequential run gives", function()
    local names = seed_tokens("same", 8)
    local seq = {}
    for i, name in ipairs(names) do
      local t = assert(client:get_token(name))
      seq[i] = t.name .. " " .. t.status .. " " .. tostring(t.scope_map_id)
    end
    local ops = {}
    for i, name in ipairs(names) do ops[i] = client:begin_update_token(name, { status = "disabled" }) end
    drive_all(ops)
    local par = {}
    for i, op in ipairs(ops) do
      local t = assert(op:result())
      assert.are.equal("disabled", t.status)
      par[i] = t.name .. " enabled " .. tostring(t.scope_map_id)
    end
    assert.are.same(seq, par)
  end)

  it("loses and duplicates nothing with 30 % faults and dropped connections, 64 in flight", function()
    local sm = assert(client:create_scope_map(ch.unique("flt"), { actions = { "repositories/a/content/read" } }))
    em:settings{ fail_rate = 0.3 }
    local c = ch.client(em, { retry = { max_retries = 10, base_delay = 0.01, max_delay = 0.2 } })
    local names, ops = {}, {}
    for i = 1, 64 do
      names[i] = ch.unique("flt")
      ops[i] = c:begin_create_token(names[i], { scope_map = sm.name })
    end
    drive_all(ops)
    for i, op in ipairs(ops) do
      local tok, err = op:result()
      assert.is_truthy(tok, tostring(err))
      assert.are.equal(names[i], tok.name)
    end
    em:settings{ fail_rate = 0 }
    local seen = {}
    for t in client:tokens() do seen[t.name] = (seen[t.name] or 0) + 1 end
    for _, name in ipairs(names) do assert.are.equal(1, seen[name], name) end
    c:close()
  end)

  it("sends one token request for 64 operations that start without a token", function()
    local names = seed_tokens("tok1", 4)
    local mark = log_mark()
    local c = ch.client(em, { credential = acr.credential.client_secret{
      tenant_id = "t1", client_id = em.client_id, client_secret = em.client_secret,
      authority_host = em.url } })
    local ops = {}
    for i = 1, 64 do ops[i] = begin_get(c, names[(i - 1) % 4 + 1]) end
    drive_all(ops)
    for _, op in ipairs(ops) do assert(op:result()) end
    assert.are.equal(1, count_since(mark, "POST oauth2"))
    assert.are.equal(64, count_since(mark, "GET token"))
    c:close()
  end)

  it("ends every operation in flight with ClientClosed when the client closes", function()
    local names = seed_tokens("cls", 8)
    em:settings{ latency_ms = 2000 }
    local c = ch.client(em)
    local ops = {}
    for i, name in ipairs(names) do ops[i] = begin_get(c, name) end
    c:close()
    for _, op in ipairs(ops) do
      assert.is_true(op:done())
      local r, err = op:result()
      assert.is_nil(r)
      assert.are.equal("ClientClosed", err.code)
    end
  end)

  it("fails an operation prepared before the client closed, sending nothing", function()
    local c = ch.client(em)
    local del = c:prepare("delete_token", "never-sent")
    local get = c:prepare("get_token", "never-sent")
    local mark = log_mark()
    c:close()
    for _, op in ipairs{ del, get } do
      local r, err = op:wait()
      assert.is_nil(r)
      assert.are.equal("ClientClosed", err.code)
    end
    assert.are.equal(0, #log_since(mark))
  end)

  it("sends each request once when the logger drives the client", function()
    local names = seed_tokens("lg", 2)
    local c
    local busy = false
    c = ch.client(em, { logger = function()
      if busy then return end
      busy = true
      c:get_token(names[2])        -- drives the client from inside the driver
      busy = false
    end })
    local mark = log_mark()
    assert(c:generate_credentials{ token = names[1], name = "password1" })
    assert.are.equal(1, count_since(mark, "POST generateCredentials"))
    c:close()
  end)

  it("survives collecting operations whose requests are in flight", function()
    local names = seed_tokens("gc", 4)
    em:settings{ latency_ms = 100 }
    local c = ch.client(em)
    for _, name in ipairs(names) do begin_get(c, name) end   -- dropped at once
    collectgarbage("collect")
    collectgarbage("collect")
    local tok = assert(c:get_token(names[1]))   -- drives the dropped ones too
    assert.are.equal(names[1], tok.name)
    collectgarbage("collect")
    c:close()
    collectgarbage("collect")
  end)

  -- What a wait costs: a driver that spins uses about all of the wall time; one that
  -- wakes every millisecond sleeps a thousand times a second.
  local idle_cost, assert_idle = ch.idle_cost, ch.assert_idle

  it("sleeps while its operations wait for a Retry-After, a token or the pacer", function()
    local names = seed_tokens("idle", 16)
    em:settings{ retry_after = 1, polls = 1 }
    local ops = {}
    for i, name in ipairs(names) do ops[i] = client:begin_update_token(name, { status = "disabled" }) end
    local share, per_s, wall = idle_cost(function()
      for _, op in ipairs(ops) do assert(op:wait()) end
    end)
    assert_idle("polls after Retry-After", share, per_s, wall, 0.9)

    -- 16 operations held while the one token request is out
    em:settings{ retry_after = 0, token_latency_ms = 1000 }
    local c = ch.client(em, { credential = acr.credential.client_secret{
      tenant_id = "t1", client_id = em.client_id, client_secret = em.client_secret,
      authority_host = em.url } })
    ops = {}
    for i, name in ipairs(names) do ops[i] = begin_get(c, name) end
    share, per_s, wall = idle_cost(function() drive_all(ops) end)
    assert_idle("a token request out", share, per_s, wall, 0.9)
    for _, op in ipairs(ops) do assert(op:result()) end
    em:settings{ token_latency_ms = 0 }
    c:close()

    -- 32 reads held back by the pacer: 2 in the bucket, ARM's 25 more a second
    em:settings{ throttle = { reads = { 2, 25 } } }
    c = ch.client(em)
    ops = {}
    share, per_s, wall = idle_cost(function()
      for i = 1, 32 do ops[i] = begin_get(c, names[(i - 1) % #names + 1]) end
      drive_all(ops)
    end)
    em:settings{ throttle = false }
    assert_idle("the pacer", share, per_s, wall, 1.0)
    for _, op in ipairs(ops) do assert(op:result()) end
    c:close()
  end)

  it("fails only the operation whose answer is bad, mid-batch", function()
    local names = seed_tokens("bad", 6)
    em:admin("POST", "inject", { path = "/tokens/" .. names[3], method = "GET", status = 200,
                                 body = '{"id": 1, "name": {"x": ' })
    em:admin("POST", "inject", { path = "/tokens/" .. names[5], method = "GET", status = 200,
                                 body = '<html><body>502</body></html>' })
    local ops = {}
    for i, name in ipairs(names) do ops[i] = begin_get(client, name) end
    drive_all(ops)
    for i, op in ipairs(ops) do
      local tok, err = op:result()
      if i == 3 or i == 5 then
        assert.is_nil(tok)
        assert.are.equal("InvalidResponse", err.code)
      else
        assert.are.equal(names[i], assert(tok).name)
      end
    end
  end)
end)

describe("concurrency over HTTP/2 #emulator", function()
  it("multiplexes the requests of many operations over one TLS connection", function()
    local em = helpers.start_emulator{ tls = true, http2 = true, retry_after = 0, polls = 0,
                                       latency_ms = 100 }
    local c = ch.client(em)
    local ok, err = pcall(function()
      local ops = {}
      for i = 1, 16 do ops[i] = begin_get(c, "no-such-token-" .. i) end
      drive_all(ops)
      for _, op in ipairs(ops) do
        local _, e = op:result()
        assert.are.equal("ResourceNotFound", e.code)
      end
      -- the first read goes alone (the pacer hears where the bucket stands), then the rest
      local log = em:log()
      assert.is_true(max_overlap(log) >= 15, "at most " .. max_overlap(log) .. " at once")
      assert.are.equal(1, c:connections())
    end)
    c:close()
    em:stop()
    assert(ok, err)
  end)
end)

describe("one refresh for a refused token #unit", function()
  local cjson = require "cjson"
  local function token_answer(op, value)
    local req = assert(op:next_request())
    assert.is_true(req.auth)
    op:feed(200, { ["content-type"] = "application/json" },
            cjson.encode{ access_token = value, expires_in = 3600, token_type = "Bearer" })
  end

  it("a 401 for a request sent with a token already replaced does not drop the new one", function()
    local c = ch.secret_client()
    local op1, op2 = c:prepare("get_token", "tok-one"), c:prepare("get_token", "tok-two")
    token_answer(op1, "token-a")
    assert.are.equal("Bearer token-a", op1:next_request().headers.Authorization)
    assert.are.equal("Bearer token-a", op2:next_request().headers.Authorization)
    op1:feed(401, {}, '{"error":{"code":"InvalidAuthenticationToken","message":"no"}}')
    token_answer(op1, "token-b")                       -- op1 refreshes: once
    assert.are.equal("Bearer token-b", op1:next_request().headers.Authorization)
    op2:feed(401, {}, '{"error":{"code":"InvalidAuthenticationToken","message":"no"}}')
    local req = assert(op2:next_request())            -- op2 uses token-b, fetches nothing
    assert.is_nil(req.auth)
    assert.are.equal("Bearer token-b", req.headers.Authorization)
    c:close()
  end)
end)

describe("a failed token refresh #unit", function()
  local cjson = require "cjson"

  it("is not retried by every operation waiting for it while the token is valid", function()
    local c = ch.secret_client()
    local op1 = c:prepare("get_token", "tok-one")
    assert.is_true(op1:next_request().auth)
    -- a token of 4 s: its refresh window opens after 2 s (time() has whole seconds)
    op1:feed(200, {}, cjson.encode{ access_token = "token-a", expires_in = 4, token_type = "Bearer" })
    assert.are.equal("Bearer token-a", op1:next_request().headers.Authorization)
    os.execute("sleep 2.2")
    local op2, op3 = c:prepare("get_token", "tok-two"), c:prepare("get_token", "tok-three")
    assert.is_true(op2:next_request().auth)            -- the refresh ...
    op2:feed(400, {}, '{"error":"invalid_client","error_description":"AADSTS7000215: no"}')
    assert.are.equal("Bearer token-a", op2:next_request().headers.Authorization)
    local req = op3:next_request()                     -- ... is not asked for again
    assert.is_nil(req.auth)
    assert.are.equal("Bearer token-a", req.headers.Authorization)
    c:close()
  end)
end)
