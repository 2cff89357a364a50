-- acr.batch: at most `width` jobs in flight, each result handed back once as it
-- completes, failures as values, progress counts.
local ch = require "client_helpers"
local helpers = ch.helpers
local batch = require "acr.batch"

local max_overlap = ch.max_overlap

describe("acr.batch #emulator", function()
  local em, client, sm, names

  setup(function()
    em = helpers.start_emulator{ retry_after = 0, polls = 1 }
    client = ch.client(em)
    sm = assert(client:create_scope_map(ch.unique("bt"), { actions = { "repositories/a/content/read" } }))
    names = {}
    for i = 1, 24 do
      names[i] = ch.unique("bt")
      assert(client:create_token(names[i], { scope_map = sm }))
    end
  end)
  teardown(function()
    if client then client:close() end
    if em then em:stop() end
  end)
  before_each(function() em:settings{ latency_ms = 0, lro_style = "realistic", polls = 1 } end)

  local function mark() return ch.log_mark(em) end
  local function since(m) return ch.log_since(em, m) end

  it("keeps at most width in flight and hands each result back once", function()
    em:settings{ latency_ms = 100 }
    local m = mark()
    local called, max_started = 0, 0
    local jobs = {}
    for i, name in ipairs(names) do
      jobs[i] = function()
        called = called + 1
        return client:prepare("get_token", name)
      end
    end
    local b = batch.new(jobs, { width = 6 })
    local seen, order = {}, 0
    for i, tok, err in b:results() do
      order = order + 1
      assert.is_nil(seen[i])
      seen[i] = true
      assert.are.equal(names[i], assert(tok, tostring(err)).name)
      local p = b:progress()
      assert.is_true(p.done >= order)   -- several may end in one wait
      assert.is_true(p.running <= 6)
      if called - p.done > max_started then max_started = called - p.done end
    end
    assert.are.equal(#names, order)
    assert.is_true(max_started <= 6, "jobs called ahead of their turn: " .. max_started)
    local overlap = max_overlap(since(m))
    assert.is_true(overlap <= 6 and overlap >= 3, "overlap " .. overlap)
  end)

  it("returns failures as values: a raise, an error answer, a non-operation", function()
    local done = 0
    local summary = batch.run({
      function() error("job exploded") end,
      function() return client:begin_update_token("no-such-token", { status = "disabled" }) end,
      function() return nil, "no operation today" end,
      client:prepare("get_token", names[1]),
      function() return client:begin_update_token(names[2], { status = "disabled" }) end,
    }, { width = 2, on_done = function(i, value, err, b)
      done = done + 1
      assert.are.equal(done, b:progress().done)
    end })
    assert.are.equal(5, done)
    assert.are.equal(5, summary.total)
    assert.are.equal(2, summary.succeeded)
    assert.are.equal(3, summary.failed)
    assert.matches("job exploded", tostring(summary.results[1].err))
    assert.are.equal("ResourceNotFound", summary.results[2].err.code)
    assert.are.equal("no operation today", summary.results[3].err)
    assert.are.equal(names[1], summary.results[4].value.name)
    assert.are.equal("disabled", summary.results[5].value.status)
  end)

  it("leaves the caller's list alone, and a client closed mid-batch fails its jobs as values", function()
    local c = ch.client(em)
    local jobs = {}
    for i = 1, 4 do jobs[i] = c:prepare("get_token", names[i]) end
    local copy = {}
    for i, j in ipairs(jobs) do copy[i] = j end
    local summary = batch.run(jobs, { width = 1, on_done = function(i) if i == 1 then c:close() end end })
    assert.are.same(copy, jobs)
    assert.are.equal(4, summary.total)
    assert.are.equal(names[1], summary.results[1].value.name)
    for i = 2, 4 do assert.are.equal("ClientClosed", summary.results[i].err.code) end
  end)

  it("counts in client:ended() what the driver ends, and collects an operation handed over done", function()
    local c = ch.client(em)
    assert.are.equal(0, c:ended())
    assert(c:get_token(names[1]))
    assert.are.equal(1, c:ended())
    local done = c:prepare("get_token", names[2])
    assert(done:result())
    assert.are.equal(2, c:ended())
    -- no driver counts the end of the first job, handed over done: the batch finds it all
    -- the same, and the two it runs
    local summary = batch.run({ done, c:prepare("get_token", names[3]),
                                function() return c:prepare("get_token", names[4]) end }, { width = 2 })
    assert.are.equal(3, summary.succeeded)
    assert.are.equal(names[2], summary.results[1].value.name)
    assert.are.equal(4, c:ended())
    c:close()
    ch.raises("the client is closed", c.ended, c)
  end)

  it("starts the jobs added first before the others, in the order they were added", function()
    local order = {}
    local function job(tag) return function() order[#order + 1] = tag; return tag end end
    local b = batch.new({ job("a"), job("b") }, { width = 1, on_done = function(_, v, _, self)
      -- a next step added first from on_done goes after those added first before it,
      -- and before the jobs not added first
      if v == "f1" then self:add(job("f1-next"), true) end
    end })
    b:add(job("f1"), true)
    b:add(job("f2"), true)
    b:add(job("c"))
    for _ in b:results() do end
    assert.are.same({ "f1", "f2", "f1-next", "a", "b", "c" }, order)
  end)

  it("reports progress counts for a progress line", function()
    local b = batch.new({ client:prepare("get_token", names[3]), client:prepare("get_token", names[4]) },
                        { width = 1 })
    assert.are.same({ total = 2, done = 0, failed = 0, running = 0, pending = 2 }, b:progress())
    local summary = b:run()
    assert.are.equal(2, summary.succeeded)
    assert.are.same({ total = 2, done = 2, failed = 0, running = 0, pending = 0 }, b:progress())
  end)

  it("raises on misuse, naming the argument", function()
    ch.raises("^bad argument #1 to 'acr%.batch%.new' %(list of operations or functions expected, got string%)$",
              batch.new, "jobs")
    ch.raises("^bad argument #2 to 'acr%.batch%.run' %(table of options expected, got number%)$",
              batch.run, {}, 5)
    ch.raises("item 2 is a number", batch.new, { function() end, 42 })
    ch.raises("option 'width'", batch.new, {}, { width = 0 })
    ch.raises("option 'width'", batch.new, {}, { width = 1.5 })
    ch.raises("unknown option 'widht'", batch.new, {}, { widht = 3 })
    ch.raises("^bad argument #2 to 'acr%.batch%.new' %(option 'on_done' must be a function, got number%)$",
              batch.new, {}, { on_done = 1 })
    local b = batch.new({})
    ch.raises("^bad argument #2 to 'add' %(acr%.Operation or function expected, got string%)$", b.add, b, "job")
    ch.raises("^bad argument #1 to 'run' %(acr%.Batch expected, got table%)$", b.run, {})
  end)
end)
