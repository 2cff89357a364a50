-- Many clients at once on one thread: acr.drive(clients) drives the started operations
-- of every client of the list together, sleeping in one poll over all of their epoll
-- sets, and acr.batch uses it when its running jobs belong to several clients. Two
-- clients here are two registries of one emulator. Ratios, not times: the machines
-- that run this are shared.
local ch = require "client_helpers"
local acr = require "acr"
local batch = require "acr.batch"

local now, max_overlap = ch.monotime, ch.max_overlap

local SECOND = "emusecond"

local idle_cost, assert_idle, begin_get, seed = ch.idle_cost, ch.assert_idle, ch.begin_get, ch.seed_tokens

describe("acr.drive over two clients #emulator", function()
  local em, a, b
  local start, stop, fresh = ch.suite(
    { retry_after = 0, polls = 1, registries = { ch.SUB .. "/" .. ch.RG .. "/" .. SECOND } }, nil,
    { lro_style = "realistic", polls = 1, retry_after = 0, latency_ms = 0, fail_rate = 0 },
    function(e, c) em, a = e, c end)
  setup(function()
    start()
    b = ch.client(em, { registry = SECOND })
  end)
  teardown(function()
    if b then b:close() end
    stop()
  end)
  before_each(fresh)   -- reset keeps the registries the emulator was started with

  -- acr.drive until every operation of ops has ended: how many calls that took, and
  -- how many operations they said ended.
  local function drive_all(clients, ops)
    local calls, ended = 0, 0
    while true do
      local left = false
      for _, op in ipairs(ops) do left = left or not op:done() end
      if not left then return calls, ended end
      calls = calls + 1
      ended = ended + acr.drive(clients)
    end
  end

  -- The jobs of an update of every token in names_of[c] (as many for each client), the
  -- clients' in turn.
  local function update_jobs(clients, names_of, status)
    local jobs = {}
    for i = 1, #names_of[clients[1]] do
      for _, c in ipairs(clients) do
        local name = names_of[c][i]
        jobs[#jobs + 1] = function() return c:begin_update_token(name, { status = status }) end
      end
    end
    return jobs
  end

  it("takes each client's answers in as they come, while the other client's operation waits", function()
    -- An update is a chain of six requests (PATCH, four status polls, the final GET),
    -- each of 10 ms. Four of them on b alone; then the same four in one batch with a
    -- read on a that waits out a 503's Retry-After of 1 s. b's chains must end as soon
    -- as alone: a driver that waited on a's operation and looked at b every 50 ms
    -- took four times as long and more.
    local na, nb = seed(a, "pa", 1), seed(b, "pb", 4)
    em:settings{ latency_ms = 10, polls = 4 }
    local function run(jobs)
      local t0, last = now(), 0
      local summary = batch.run(jobs, { width = 8, on_done = function(i)
        if i > #jobs - 4 then last = now() - t0 end   -- b's, the last four
      end })
      assert.are.equal(0, summary.failed)
      return last
    end
    local alone = run(update_jobs({ b }, { [b] = nb }, "disabled"))
    em:admin("POST", "inject", { path = "/tokens/" .. na[1], method = "GET", status = 503,
                                 headers = { ["Retry-After"] = "1" } })
    local read = a:prepare("get_token", na[1])
    local beside
    local share, per_s, wall = idle_cost(function()
      assert.is_nil(read:wait(0.2))                   -- the 503 is in: its retry waits
      local jobs = { read }
      for i, job in ipairs(update_jobs({ b }, { [b] = nb }, "enabled")) do jobs[i + 1] = job end
      beside = run(jobs)
    end)
    assert.are.equal(na[1], assert(read:result()).name)
    assert.is_true(beside < alone * 2.5,
                   ("b's updates took %.3f s beside a's wait, alone %.3f s"):format(beside, alone))
    assert_idle("a's Retry-After beside b's updates", share, per_s, wall, 0.9)
  end)

  it("overlaps the requests of both clients, and finishes well under the sequential sum", function()
    local N = 8
    local na, nb = seed(a, "ov", N), seed(b, "ov", N)
    em:settings{ latency_ms = 200 }
    local t0 = now()
    assert(a:get_token(na[1]))
    local one = now() - t0
    local mark = ch.log_mark(em)
    local ops = {}
    local share, per_s, wall = idle_cost(function()
      for i = 1, N do
        ops[#ops + 1] = begin_get(a, na[i])
        ops[#ops + 1] = begin_get(b, nb[i])
      end
      drive_all({ a, b }, ops)
    end)
    for i = 1, N do
      assert.are.equal(na[i], assert(ops[2 * i - 1]:result()).name)
      assert.are.equal(nb[i], assert(ops[2 * i]:result()).name)
    end
    local log = ch.log_since(em, mark)
    assert.are.equal(2 * N, #log)
    assert.is_true(max_overlap(log) >= 2 * N, "at most " .. max_overlap(log) .. " at once")
    assert.is_true(wall < one * 2 * N / 4, ("%d gets took %.2f s, one %.2f s"):format(2 * N, wall, one))
    assert_idle("gets of 200 ms", share, per_s, wall, 0.19)   -- waiting is sleeping
  end)

  it("sleeps while both clients' operations wait for a Retry-After", function()
    local na, nb = seed(a, "ra", 4), seed(b, "ra", 4)
    em:settings{ retry_after = 1, polls = 1 }
    local ops = {}
    for i = 1, 4 do
      ops[#ops + 1] = a:begin_update_token(na[i], { status = "disabled" })
      ops[#ops + 1] = b:begin_update_token(nb[i], { status = "disabled" })
    end
    local calls
    local share, per_s, wall = idle_cost(function() calls = drive_all({ a, b }, ops) end)
    for _, op in ipairs(ops) do assert.are.equal("disabled", assert(op:result()).status) end
    assert_idle("polls after Retry-After", share, per_s, wall, 0.9)
    -- each call returns once something ended: no more calls than operations
    assert.is_true(calls <= #ops, calls .. " calls for " .. #ops .. " operations")
  end)

  it("gives the results a sequential run gives", function()
    local na, nb = seed(a, "sq", 4), seed(b, "sq", 4)
    local seq = {}
    for i = 1, 4 do
      for _, p in ipairs{ { a, na[i] }, { b, nb[i] } } do
        local t = assert(p[1]:get_token(p[2]))
        seq[#seq + 1] = t.id .. " " .. t.status .. " " .. tostring(t.scope_map_id)
      end
    end
    local ops = {}
    for i = 1, 4 do
      ops[#ops + 1] = a:begin_update_token(na[i], { status = "disabled" })
      ops[#ops + 1] = b:begin_update_token(nb[i], { status = "disabled" })
    end
    drive_all({ a, b }, ops)
    local par = {}
    for i, op in ipairs(ops) do
      local t = assert(op:result())
      assert.are.equal("disabled", t.status)
      par[i] = t.id .. " enabled " .. tostring(t.scope_map_id)
    end
    assert.are.same(seq, par)
    -- the same through acr.batch (enabled again), each token in its own registry
    local summary = batch.run(update_jobs({ a, b }, { [a] = na, [b] = nb }, "enabled"), { width = 4 })
    assert.are.equal(8, summary.succeeded)
    local bat = {}
    for i = 1, 8 do
      local t = summary.results[i].value
      bat[i] = t.id .. " " .. t.status .. " " .. tostring(t.scope_map_id)
      assert.is_truthy(t.id:find((i % 2 == 1 and ch.REG or SECOND) .. "/tokens/", 1, true), t.id)
    end
    assert.are.same(seq, bat)
  end)

  it("counts what ended, returns at once when nothing is started, and keeps max_seconds", function()
    local na, nb = seed(a, "mx", 2), seed(b, "mx", 2)
    assert.are.equal(0, acr.drive({}))
    assert.are.equal(0, acr.drive({}, 5))
    local t0 = now()
    assert.are.equal(0, acr.drive({ a, b }))        -- none started: none left to wait for
    assert.is_true(now() - t0 < 0.5)
    em:settings{ latency_ms = 100 }                  -- none ends before the first drive
    local ops = { begin_get(a, na[1]), begin_get(b, nb[1]), begin_get(b, nb[2]) }
    local _, ended = drive_all({ a, b, a }, ops)     -- a client listed twice is driven once
    assert.are.equal(3, ended)
    em:settings{ latency_ms = 3000 }
    local slow = { begin_get(a, na[2]), begin_get(b, nb[1]) }
    local _, _, wall = idle_cost(function() assert.are.equal(0, acr.drive({ a, b }, 0.3)) end)
    assert.is_true(wall >= 0.25 and wall < 2, ("acr.drive(clients, 0.3) took %.2f s"):format(wall))
    _, _, wall = idle_cost(function() assert.are.equal(0, acr.drive({ a, b }, 0)) end)   -- one round
    assert.is_true(wall < 1, ("acr.drive(clients, 0) took %.2f s"):format(wall))
    for _, op in ipairs(slow) do assert.is_false(op:done()) end
    em:settings{ latency_ms = 0 }
    drive_all({ a, b }, slow)
    for _, op in ipairs(slow) do assert(op:result()) end
  end)

  it("goes on with the others when a logger closes one of the clients mid-drive", function()
    local na = seed(a, "cl", 2)
    local nb = seed(b, "cl", 2)
    em:settings{ latency_ms = 100 }
    for i = 1, 2 do   -- c2's reads wait out a Retry-After meanwhile
      em:admin("POST", "inject", { path = "/tokens/" .. nb[i], method = "GET", status = 503,
                                   headers = { ["Retry-After"] = "5" } })
    end
    local c2 = ch.client(em, { registry = SECOND })
    local closed = false
    local c1 = ch.client(em, { logger = function()
      if not closed then
        closed = true
        c2:close()
      end
    end })
    local lost = { begin_get(c2, nb[1]), begin_get(c2, nb[2]) }
    local ops = { c1:begin_update_token(na[1], { status = "disabled" }), begin_get(c1, na[2]) }
    local n = acr.drive({ c1, c2 })
    assert.is_true(closed)
    assert.is_true(n >= 1)
    for _, op in ipairs(lost) do
      assert.is_true(op:done())
      assert.are.equal("ClientClosed", select(2, op:result()).code)
    end
    ch.raises("item 2 is a closed acr.Client", acr.drive, { c1, c2 })
    drive_all({ c1 }, ops)
    assert.are.equal("disabled", assert(ops[1]:result()).status)
    assert.are.equal(na[2], assert(ops[2]:result()).name)
    c1:close()
  end)
end)

describe("acr.drive misuse #unit", function()
  local SHAPE = "^bad argument #(%d) to 'acr%.drive' %((.+)%)$"
  local function misuse(n, says, ...)
    local ok, err = pcall(acr.drive, ...)
    assert.is_false(ok)
    local an, text = tostring(err):gsub("^[^\n]-:%d+: ", ""):match(SHAPE)
    assert.is_truthy(an, "not the one shape: " .. tostring(err))
    assert.are.equal(n, tonumber(an), err)
    assert.is_truthy(text:find(says, 1, true), "'" .. says .. "' not in: " .. tostring(err))
  end

  it("raises naming the argument and the item", function()
    local c = acr.client(ch.options())
    misuse(1, "list of acr.Client expected, got no value")
    misuse(1, "list of acr.Client expected, got acr.Client", c)
    misuse(1, "item 2 is a string, not an acr.Client", { c, "c" })
    misuse(1, "item 1 is a acr.Operation, not an acr.Client", { c:prepare("get_token", "abcde") })
    misuse(2, "number of seconds expected, got string", { c }, "1")
    misuse(2, "not NaN or more than 1e9", { c }, 0 / 0)
    local closed = acr.client(ch.options())
    closed:close()
    misuse(1, "item 2 is a closed acr.Client", { c, closed })
    c:close()
  end)
end)
