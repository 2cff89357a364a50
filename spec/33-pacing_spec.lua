-- Pacing by ARM's rate limits: the client estimates each bucket from the
-- x-ms-ratelimit-remaining-* headers and holds requests back rather than run into
-- 429s; a 429 with Retry-After is waited out without using up retries.
local ch = require "client_helpers"
local helpers = ch.helpers
local batch = require "acr.batch"
local acr = require "acr"

describe("pacing #emulator", function()
  local em

  setup(function()
    em = helpers.start_emulator{ retry_after = 0, polls = 0 }
  end)
  teardown(function()
    if em then em:stop() end
  end)

  local function throttled_since(mark)
    local n, total = 0, 0
    for _, e in ipairs(ch.log_since(em, mark)) do
      if e.kind ~= "POST oauth2" then
        total = total + 1
        if e.throttled then n = n + 1 end
      end
    end
    return n, total
  end

  it("finishes a bulk job at the bucket's rate with few 429s, default settings", function()
    local setup_client = ch.client(em)
    local sm = assert(setup_client:create_scope_map(ch.unique("pace"), { actions = { "repositories/a/content/read" } }))
    setup_client:close()
    -- small buckets with ARM's refill rates, so the bound is a few seconds
    em:settings{ throttle = { reads = { 10, 25 }, writes = { 10, 10 }, deletes = { 10, 10 } } }
    local mark = ch.log_mark(em)
    local c = ch.client(em)
    local names, jobs = {}, {}
    for i = 1, 40 do
      names[i] = ch.unique("pace")
      jobs[i] = function() return c:begin_create_token(names[i], { scope_map = sm.name }) end
    end
    local summary = batch.run(jobs, { width = 32 })
    assert.are.equal(40, summary.succeeded, tostring((summary.results[1] or {}).err))
    local n429, total = throttled_since(mark)
    -- without pacing: about 170 of 290 (a 429 for most of each wave)
    assert.is_true(n429 <= 4, ("%d of %d requests throttled"):format(n429, total))
    em:settings{ throttle = false }
    c:close()
  end)

  it("runs a 200-token rotate-and-disable job at the bucket bound, default settings", function()
    -- the workload of a bulk rotation: each token's password2 is generated, then the
    -- token disabled (both writes), 64 in flight, against buckets that bind it: 400
    -- writes through 40 + 60/s is a bound of 6 s (ARM's 200 + 10/s would be 20 s)
    local big = helpers.start_emulator{ retry_after = 0, polls = 0, seed_data = 200 }
    finally(function() big:stop() end)
    local cap, rate = 40, 60
    big:settings{ throttle = { reads = { 50, 100 }, writes = { cap, rate }, deletes = { cap, rate } } }
    local c = ch.client(big)
    local jobs, names = {}, {}
    for i = 1, 200 do
      names[i] = ("seed-token-%04d"):format(i)
      jobs[i] = function() return c:begin_generate_credentials { token = names[i], name = "password2" } end
    end
    local t0 = ch.monotime()
    local disabled = 0
    local summary = batch.run(jobs, { width = 64, on_done = function(i, value, err, b)
      if i <= 200 and value then
        b:add(function() return c:begin_update_token(names[i], { status = "disabled" }) end, true)
      elseif i > 200 and value and value.status == "disabled" then
        disabled = disabled + 1
      end
    end })
    local wall = ch.monotime() - t0
    assert.are.equal(400, summary.total)
    assert.are.equal(400, summary.succeeded, tostring((summary.results[1] or {}).err))
    assert.are.equal(200, disabled)
    local n429, writes, total = 0, 0, 0
    for _, e in ipairs(big:admin("GET", "log")) do
      if e.path:find("^/subscriptions/") then
        total = total + 1
        if e.throttled then n429 = n429 + 1
        elseif e.method == "POST" or e.method == "PATCH" then writes = writes + 1 end
      end
    end
    assert.are.equal(400, writes)
    -- without pacing, every wave of 64 past the bucket is mostly 429s
    assert.is_true(n429 <= total * 0.05, ("%d of %d requests throttled"):format(n429, total))
    -- the buckets did bind the job: it took about the bound, not a burst's time
    local bound = (writes - cap) / rate
    assert.is_true(wall >= 0.8 * bound, ("%.2f s against a bound of %.2f s"):format(wall, bound))
    c:close()
  end)

  it("lets a request held back alone go as soon as its token should be there", function()
    -- one job at a time through a low bucket: each waits for its own token as the bucket
    -- refills, not for a group of them to gather (a bulk job's requests go in groups)
    local setup_client = ch.client(em)
    local sm = assert(setup_client:create_scope_map(ch.unique("pace"), { actions = { "repositories/a/content/read" } }))
    setup_client:close()
    local cap, rate, n = 3, 20, 30
    em:settings{ throttle = { reads = { 60, 100 }, writes = { cap, rate }, deletes = { cap, rate } } }
    local c = ch.client(em)
    local jobs = {}
    for i = 1, n do
      local name = ch.unique("pace")
      jobs[i] = function() return c:begin_create_token(name, { scope_map = sm.name }) end
    end
    local t0 = ch.monotime()
    local summary = batch.run(jobs, { width = 1 })
    local wall = ch.monotime() - t0
    em:settings{ throttle = false }
    assert.are.equal(n, summary.succeeded, tostring((summary.results[1] or {}).err))
    -- 1.35 s; a group's wait (a quarter of a second) for each job would be 6.75 s
    local bound = (n - cap) / rate
    assert.is_true(wall < 2 * bound + 0.5, ("%.2f s against a bound of %.2f s"):format(wall, bound))
    c:close()
  end)

  -- n GETs started at once, then each waited for in turn (op:wait()), through a reads
  -- bucket of {size, refill}: what it cost, and the 429s
  local function gets_in_turn(bucket, n)
    local seeder = ch.client(em)
    local names = ch.seed_tokens(seeder, "turn", 8)
    seeder:close()
    em:settings{ throttle = { reads = bucket } }
    local mark = ch.log_mark(em)
    local c = ch.client(em)
    local ops = {}
    local share, _, wall = ch.idle_cost(function()
      for i = 1, n do ops[i] = ch.begin_get(c, names[(i - 1) % #names + 1]) end
      for _, op in ipairs(ops) do assert(op:wait()) end
    end)
    em:settings{ throttle = false }
    c:close()
    local n429, total = throttled_since(mark)
    return n429, total, wall, share
  end

  it("learns a bucket smaller than ARM's public size from a 429, and keeps to it", function()
    -- a bucket of 2 that refills 25 a second, where ARM's public size is 250: a guess of
    -- 250 sends, after a pause or a Retry-After, as many requests as the refill rate
    -- gives, and all but 2 come back 429, round after round (532 of 596, 30 s)
    local n = 64
    local n429, total, wall = gets_in_turn({ 2, 25 }, n)
    assert.is_true(n429 <= 8, ("%d of %d requests throttled"):format(n429, total))
    local bound = (n - 2) / 25   -- 2.5 s
    assert.is_true(wall < 2 * bound + 0.5, ("%.2f s against a bound of %.2f s"):format(wall, bound))
  end)

  it("sleeps in an operation's wait while its group of held requests gathers", function()
    -- a bucket that holds more than a quarter of a second's refill: the held requests go
    -- in groups, and a token is back 10 ms after each group, long before the next wake;
    -- the operation waited for is startable then, but a wait of 0 until the wake would
    -- spin (half to 84 % of the CPU)
    local n429, total, wall, share = gets_in_turn({ 30, 100 }, 160)
    assert.is_true(n429 <= 4, ("%d of %d requests throttled"):format(n429, total))
    assert.is_true(share < 0.2, ("CPU was %.0f %% of the %.2f s"):format(share * 100, wall))
  end)

  it("waits out more 429s than it has retries when each says Retry-After", function()
    local c = ch.client(em, { retry = { max_retries = 0, base_delay = 0.01, max_delay = 5 } })
    em:admin("POST", "inject", { path = "/tokens", method = "GET", status = 429, times = 2,
      headers = { ["Retry-After"] = "1" },
      body = '{"error":{"code":"SubscriptionRequestsThrottled","message":"slow down"}}' })
    local items = assert(c:tokens():next_page())
    assert.is_table(items)
    c:close()
  end)

  it("counts a 429 with a Retry-After of 0 as a retry: it ends", function()
    local c = ch.client(em, { retry = { max_retries = 2, base_delay = 0.01, max_delay = 5 } })
    em:admin("POST", "inject", { path = "/tokens", method = "GET", status = 429, times = 50,
      headers = { ["Retry-After"] = "0" },
      body = '{"error":{"code":"SubscriptionRequestsThrottled","message":"slow down"}}' })
    local items, err = c:tokens():next_page()
    assert.is_nil(items)
    assert.are.equal(429, err.status)
    em:reset()
    c:close()
  end)

  it("still fails a 429 that names no Retry-After once retries are used up", function()
    local c = ch.client(em, { retry = { max_retries = 1, base_delay = 0.01, max_delay = 5 } })
    em:admin("POST", "inject", { path = "/tokens", method = "GET", status = 429, times = 3,
      body = '{"error":{"code":"SubscriptionRequestsThrottled","message":"slow down"}}' })
    local items, err = c:tokens():next_page()
    assert.is_nil(items)
    assert.are.equal(429, err.status)
    em:admin("POST", "inject", { path = "/tokens", method = "GET", status = 200, times = 1, body = '{"value":[]}' })
    c:close()
  end)

  it("is not held for ever by a request handed out and never answered", function()
    local c = ch.client(em)
    local abandoned = c:prepare("get_token", "seed-token-0001")
    assert(abandoned:next_request())          -- counted as sent; never fed
    local tok, err = c:get_token("no-such-token")  -- a read of the same, unknown bucket
    assert.is_true(tok ~= nil or acr.is_error(err))   -- it returned
    c:close()
  end)
end)

-- The pacer is part of the state machine, so any driver (acr.resty too) gets it through
-- op:feed() and op:delay().
describe("pacing through feed() and delay() #unit", function()
  local function client() return acr.client(ch.options()) end

  it("holds the next read back when the reads bucket is empty", function()
    local c = client()
    local a, b, w = c:prepare("get_token", "tok-one"), c:prepare("get_token", "tok-two"),
                    c:prepare("delete_token", "tok-three")
    assert(a:next_request())
    a:feed(200, { ["x-ms-ratelimit-remaining-subscription-reads"] = "0" },
           '{"id":"/x","name":"tok-one","properties":{}}')
    local d = b:delay()
    assert.is_true(d > 0.05 and d < 1, tostring(d))   -- about 2 tokens at 25/s
    assert.are.equal(0, w:delay())                       -- deletes have their own bucket
    c:close()
  end)

  it("holds every read back for a 429's Retry-After", function()
    local c = client()
    local a, b = c:prepare("get_token", "tok-one"), c:prepare("get_token", "tok-two")
    assert(a:next_request())
    a:feed(429, { ["retry-after"] = "7" },
           '{"error":{"code":"SubscriptionRequestsThrottled","message":"slow down"}}')
    local d = b:delay()
    assert.is_true(d > 6 and d <= 7, tostring(d))
    assert.is_true(a:delay() > 6)
    c:close()
  end)
end)

