-- acr.desired.apply — runs a plan's changes: every change whose predecessors have
-- succeeded, at most `width` operations in flight through one acr.batch
-- (paced by each client), the rest as they become ready. Each change is a coroutine
-- that yields the operations it needs one at a time; the batch resumes it with each
-- result. A change that fails fails alone; the changes after it are skipped.
--
--   local result = apply.run(plan, { width = 256, sink = s, on_change = f, now = t })
--
-- The width is in operations, and a long-running operation keeps its slot while it
-- waits for its next poll (a Retry-After of a second or more, at ARM): a wide window
-- is what lets a bulk apply run at the rate ARM's buckets allow, which each client's
-- pacer keeps to.
--   -- result = { ok = bool, succeeded = n, failed = n, skipped = n,
--   --            changes = { { change = c, ok = bool, err = ?, skipped = bool }… } }
local batch = require "acr.batch"
local steps = require "acr.desired.steps"

local _M = {}

local Run = {}
Run.__index = Run

-- Starts change c: runs its coroutine to its first operation (or its end).
function Run:start(c)
  if self.started[c.id] then return end
  self.started[c.id] = true
  local co = coroutine.create(steps.body(c, self.ctx))
  self:resume(c, co)
end

-- Resumes the coroutine of change c with what its last operation gave; it yields the
-- next one (a function the batch calls when a slot is free) or returns its outcome.
function Run:resume(c, co, value, err)
  local ok, a, b = coroutine.resume(co, value, err)
  if not ok then return self:finish(c, false, a) end
  if coroutine.status(co) == "dead" then return self:finish(c, a, b) end
  self.waiting[self.b:add(a, true)] = { c, co }
end

-- Records c's outcome; what follows it starts (success) or is skipped (failure).
function Run:finish(c, ok, err)
  local r = { change = c, ok = ok and true or false, err = not ok and (err or "failed") or nil }
  self.results[c.id] = r
  if self.on_change then
    -- the caller's callback must not stop the other changes: its raise comes at the end
    local ok_cb, e = pcall(self.on_change, c, r.ok, r.err)
    if not ok_cb and self.callback_error == nil then self.callback_error = e end
  end
  for _, next_id in ipairs(self.followers[c.id] or {}) do
    local n = self.pending[next_id] - 1
    self.pending[next_id] = n
    local nc = self.changes[next_id]
    if not r.ok then
      self:skip(nc, c)
    elseif n == 0 and not self.results[next_id] then
      self:start(nc)
    end
  end
end

function Run:skip(c, because)
  if self.results[c.id] then return end
  local msg = ("skipped: it follows %s %s '%s', which failed"):format(because.action,
    because.kind:gsub("_", " "), because.name)
  self:finish(c, false, msg)
  self.results[c.id].skipped = true
end

-- The changes that follow none, taken from the registries in turn: each subscription
-- has buckets of its own at ARM, and the pacer holds back the requests of one whose
-- bucket is empty, so one registry's changes queued ahead of all the other's would
-- leave the other's buckets idle.
local function first_changes(changes, pending)
  local queues, order = {}, {}
  for _, c in ipairs(changes) do
    if pending[c.id] == 0 then
      local q = queues[c.registry]
      if not q then
        q = {}
        queues[c.registry] = q
        order[#order + 1] = q
      end
      q[#q + 1] = c
    end
  end
  local out, i = {}, 1
  while #out < #changes do
    local took = false
    for _, q in ipairs(order) do
      if q[i] then out[#out + 1], took = q[i], true end
    end
    if not took then break end
    i = i + 1
  end
  return out
end

_M.DEFAULT_WIDTH = 256

-- syntax: result = apply.run(plan, opts)
function _M.run(plan, opts)
  local run = setmetatable({ changes = plan.changes, results = {}, waiting = {}, started = {},
    followers = {}, pending = {}, on_change = opts.on_change,
    ctx = { sink = opts.sink, ledger = opts.ledger, now = opts.now, show_secrets = opts.show_secrets,
            login_server_suffix = opts.login_server_suffix } }, Run)
  for _, c in ipairs(plan.changes) do
    run.pending[c.id] = #c.after
    for _, id in ipairs(c.after) do
      run.followers[id] = run.followers[id] or {}
      table.insert(run.followers[id], c.id)
    end
  end
  run.b = batch.new({}, { width = opts.width or _M.DEFAULT_WIDTH, on_done = function(i, value, err)
    local w = run.waiting[i]
    run.waiting[i] = nil
    if w then run:resume(w[1], w[2], value, err) end
  end })
  for _, c in ipairs(first_changes(plan.changes, run.pending)) do
    if not run.results[c.id] then run:start(c) end
  end
  for _ in run.b:results() do end
  local out = { ok = true, succeeded = 0, failed = 0, skipped = 0, changes = {} }
  for _, c in ipairs(plan.changes) do
    local r = run.results[c.id] or { change = c, ok = false, err = "never started" }
    out.changes[#out.changes + 1] = r
    if r.ok then out.succeeded = out.succeeded + 1
    elseif r.skipped then out.skipped = out.skipped + 1
    else out.failed = out.failed + 1 end
  end
  out.ok = out.failed == 0 and out.skipped == 0
  if run.callback_error ~= nil then error(run.callback_error, 0) end
  return out
end

return _M
