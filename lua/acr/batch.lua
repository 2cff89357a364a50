-- acr.batch: run many operations with at most `width` in flight, each result handed
-- back as it completes, failures as values. Blocking (the libcurl driver): every wait
-- drives all of a client's started operations, and acr.drive those of every client the
-- running jobs belong to, so the batch only keeps the window full and collects what
-- ended.
--
--   local batch = require "acr.batch"
--   local b = batch.new(jobs, { width = 32 })
--   for i, value, err in b:results() do ... end        -- in completion order
--   local summary = batch.run(jobs, { width = 32, on_done = function(i, value, err, b) end })
--
-- A job is an acr.Operation (prepared or begun), or a function that returns one (or
-- value, err): it is called only when a slot is free, so `function() return
-- client:begin_delete_token(name) end` sends nothing before its turn.
local acr = require "acr"
local check = require "acr.check"

local _M = { _VERSION = "0.1.0" }

local Batch = { __name = "acr.Batch" }
Batch.__index = Batch

local function check_self(fname, self)
  if getmetatable(self) ~= Batch then check.typeerror(fname, 1, "acr.Batch", self, 2) end
end

local OPERATION = "acr.Operation"

local function is_operation(v)
  local mt = type(v) == "userdata" and getmetatable(v)
  return mt and mt.__name == OPERATION or false
end

local OPTIONS = { width = "number", on_done = "function" }

-- fname: batch.new or batch.run, whose misuse it reports (level: from the public function).
local function check_jobs(fname, jobs, opts, level)
  level = level + 1
  if type(jobs) ~= "table" then check.typeerror(fname, 1, "list of operations or functions", jobs, level) end
  for i = 1, #jobs do
    local j = jobs[i]
    if type(j) ~= "function" and not is_operation(j) then
      check.argerror(fname, 1, ("item %d is a %s, not an acr.Operation or a function")
                     :format(i, check.type_of(j)), level)
    end
  end
  opts = check.options(fname, 2, opts, OPTIONS, level)
  check.whole(fname, 2, opts, "width", 1, 100000, level)
  return opts.width or 16, opts.on_done
end

local function new(jobs, width, on_done)
  local own = {}
  for i = 1, #jobs do own[i] = jobs[i] end   -- the caller's list stays as it was
  return setmetatable({
    jobs = own, total = #own, width = width, on_done = on_done,
    next_job = 1, running = {}, nrunning = 0, ready = {}, ready_pos = 1,
    front = {}, front_head = 1, front_tail = 0,  -- the jobs added first, a queue
    clients = {},                 -- client -> how many of its operations run
    client_list = nil,            -- the keys of clients, for acr.drive (nil: to be made)
    seen = setmetatable({}, { __mode = "k" }),  -- client -> client:ended() at the last look
    look = false,                 -- an operation ended that no driver counted
    done = 0, failed = 0,
  }, Batch)
end

-- syntax: b = batch.new(jobs, {width=16, on_done=?})
function _M.new(jobs, opts)
  return new(jobs, check_jobs("acr.batch.new", jobs, opts, 1))
end

-- syntax: i = b:add(job, first?)  -- one more job; first: before every job not yet started,
-- so the next step of a job that ended (added from on_done) takes the slot it freed
function Batch:add(job, first)
  check_self("add", self)
  if type(job) ~= "function" and not is_operation(job) then
    check.typeerror("add", 2, "acr.Operation or function", job)
  end
  self.total = self.total + 1
  self.jobs[self.total] = job
  if first then
    self.front_tail = self.front_tail + 1
    self.front[self.front_tail] = self.total
  end
  return self.total
end

-- The index of the next job to start, or nil: jobs added first, then in order.
local function next_index(self)
  local h = self.front_head
  if h <= self.front_tail then   -- a queue, not table.remove: a plan adds thousands first
    local i = self.front[h]
    self.front[h] = nil
    self.front_head = h + 1
    return i
  end
  while self.next_job <= self.total do
    local i = self.next_job
    self.next_job = i + 1
    if self.jobs[i] then return i end   -- false: started already (added first)
  end
end

-- Records job i's outcome; it is handed out by results() in this order.
local function finish(self, i, value, err)
  self.done = self.done + 1
  if value == nil then self.failed = self.failed + 1 end
  self.ready[#self.ready + 1] = { i, value, err }
  if self.on_done then self.on_done(i, value, err, self) end
end

-- Calls a job function; a raise becomes its failure.
local function call_job(job)
  local ok, v, e = pcall(job)
  if not ok then return nil, v end
  return v, e
end

-- Counts the running operations of each client.
local function count_client(self, c, by)
  local had = self.clients[c]
  local n = (had or 0) + by
  if n == 0 then n = nil end
  if not had ~= not n then self.client_list = nil end   -- one came or went
  self.clients[c] = n
end

-- The clients of the running operations, as a list.
local function client_list(self)
  local list = self.client_list
  if not list then
    list = {}
    for c in pairs(self.clients) do list[#list + 1] = c end
    self.client_list = list
  end
  return list
end

-- Fills the window: starts jobs until `width` run or none is left.
local function fill(self)
  while self.nrunning < self.width do
    local i = next_index(self)
    if not i then return end
    local job, err = self.jobs[i], nil
    self.jobs[i] = false                     -- the batch holds no finished job
    if type(job) == "function" then job, err = call_job(job) end
    local polled, perr = true, nil
    if is_operation(job) then
      polled, perr = pcall(job.poll, job)    -- sends its first request, if due
    end
    if not polled then
      finish(self, i, nil, perr)             -- a raise is the job's failure, as in call_job
    elseif is_operation(job) then
      self.running[i] = job
      self.nrunning = self.nrunning + 1
      count_client(self, job:client(), 1)
      if job:done() then self.look = true end  -- ended before any driver counted it
    elseif job ~= nil then
      finish(self, i, job, nil)              -- a function that did the work itself
    else
      finish(self, i, nil, err or "the job returned neither an operation nor a value")
    end
  end
end

-- How many operations client c's driver has ended, or nil (a closed client raises).
local function ended(c)
  local ok, n = pcall(c.ended, c)
  return ok and n or nil
end

-- How many operations may have ended since collect last looked, by the counts of the
-- clients' drivers; math.huge when they cannot say (a closed client, or an operation
-- handed over ended, which no driver counted).
local function ends_since(self)
  if self.look then return math.huge end
  local n = 0
  for c in pairs(self.clients) do
    local e, s = ended(c), self.seen[c]
    if e == nil or s == nil then return math.huge end
    n = n + e - s
  end
  return n
end

-- Takes in the operations that have ended: with `expect` of them (ends_since), the look
-- at each running operation stops once it has found them all, or is not made at all.
local function collect(self, expect)
  self.look = false
  for c in pairs(self.clients) do self.seen[c] = ended(c) end  -- before on_done drives any
  if expect == 0 then return end
  local found = 0
  for i, op in pairs(self.running) do
    if op:done() then
      self.running[i] = nil
      self.nrunning = self.nrunning - 1
      count_client(self, op:client(), -1)
      finish(self, i, op:result())
      found = found + 1
      if found >= expect then return end
    end
  end
end

-- One round: fill the window, wait for something to end, collect.
local function step(self)
  fill(self)
  local before = self.done
  collect(self, ends_since(self))   -- starting jobs drives the client: others may have ended meanwhile
  if self.done > before or self.nrunning == 0 then return end
  -- The driver knows every due time of every client: acr.drive returns when one of
  -- their operations ends, so a step costs nothing per running operation, and each
  -- client's answers are taken in as they come. A closed client raises here; its
  -- operations have ended (ClientClosed) and are collected as failures below.
  local ok, err = pcall(acr.drive, client_list(self))
  -- a drive that returns with no end counted (none left, a raise) is followed by a
  -- look at every one, as a safety net
  local expect = ok and ends_since(self) or 0
  collect(self, expect > 0 and expect or math.huge)
  -- a raise that ended nothing would come back on every step: it is the caller's
  if not ok and self.done == before then error(err, 0) end
end

-- syntax: for i, value, err in b:results() do … end  -- each job once, as it completes
function Batch:results()
  check_self("results", self)
  return function()
    while self.ready_pos > #self.ready do
      if self.done == self.total then return nil end
      step(self)
    end
    local r = self.ready[self.ready_pos]
    self.ready[self.ready_pos] = false
    self.ready_pos = self.ready_pos + 1
    return r[1], r[2], r[3]
  end
end

-- syntax: summary = b:run()  -- drives every job to its end; {total=, succeeded=, failed=, results={[i]={value=, err=}}}
function Batch:run()
  check_self("run", self)
  local results = {}
  for i, v, e in self:results() do results[i] = { value = v, err = e } end
  return { total = self.total, succeeded = self.total - self.failed, failed = self.failed,
           results = results }
end

-- syntax: p = b:progress()  -- {total=, done=, failed=, running=, pending=}
function Batch:progress()
  check_self("progress", self)
  return { total = self.total, done = self.done, failed = self.failed, running = self.nrunning,
           pending = self.total - self.done - self.nrunning }
end

-- syntax: summary = batch.run(jobs, {width=16, on_done=?})
function _M.run(jobs, opts)
  return new(jobs, check_jobs("acr.batch.run", jobs, opts, 1)):run()
end

return _M
