-- Helpers for the client specs: a client bound to a running emulator.
local helpers = require "helpers"
local acr = require "acr"
local assert = require "luassert"   -- busted's assert, which a required module does not see

local M = {}

-- the registry every emulator of helpers.start_emulator has
M.SUB, M.RG, M.REG = helpers.DEFAULT_SUB, helpers.DEFAULT_RG, helpers.DEFAULT_REG

-- syntax: client = M.client(em, overrides?)
-- Fast polling (poll_interval 0) unless overridden; TLS via the emulator's CA.
function M.client(em, overrides)
  local o = {
    subscription_id = M.SUB, resource_group = M.RG, registry = M.REG,
    credential = acr.credential.static(em:token()),
    endpoint = em.url, poll_interval = 0, ca_file = em.ca_file,
    retry = { max_retries = 3, base_delay = 0.01, max_delay = 60 },
  }
  for k, v in pairs(overrides or {}) do
    if v == false then o[k] = nil else o[k] = v end
  end
  return acr.client(o)
end

-- syntax: start, stop, fresh = M.suite(start_opts, client_opts?, settings?, set)
-- The emulator and client of a describe block, for its setup(start), teardown(stop)
-- and before_each(fresh): start runs helpers.start_emulator(start_opts) and
-- M.client(em, client_opts) and tells set(em, client); stop closes both; fresh puts
-- settings back (when given) and resets the emulator. (A required module does not see
-- busted's setup and teardown: the spec registers them.)
function M.suite(start_opts, client_opts, settings, set)
  local em, client
  local function start()
    em = helpers.start_emulator(start_opts)
    client = M.client(em, client_opts)
    set(em, client)
  end
  local function stop()
    if client then client:close() end
    if em then em:stop() end
  end
  local function fresh()
    if settings then em:settings(settings) end
    em:reset()
  end
  return start, stop, fresh
end

-- syntax: opts = M.options(overrides?)
-- Valid acr.client options for checks that send nothing (a static token, an endpoint
-- no one listens on); an override of false removes that option.
function M.options(over)
  local o = { subscription_id = "sub", resource_group = "rg", registry = "myregistry",
              credential = acr.credential.static("tok"), endpoint = "http://127.0.0.1:9" }
  for k, v in pairs(over or {}) do
    if v == false then o[k] = nil else o[k] = v end
  end
  return o
end

-- syntax: client = M.secret_client()
-- A client that sends nothing, for replays through feed(): its credential fetches tokens
-- (client_secret) from an authority no one listens on, as the endpoint.
function M.secret_client()
  return acr.client(M.options{
    authority_host = "http://127.0.0.1:9",
    credential = acr.credential.client_secret{ tenant_id = "t", client_id = "c", client_secret = "x" },
  })
end

-- syntax: seconds = M.monotime()  -- a clock with sub-second precision, for ratios
local has_system, system = pcall(require, "system")
function M.monotime()
  if has_system and system.monotime then return system.monotime() end
  local f = assert(io.open("/proc/uptime"))
  local t = tonumber(f:read("*l"):match("^(%S+)"))
  f:close()
  return t
end

-- syntax: op = M.begin_get(client, name)  -- a GET of the token, started (a read has no
-- begin_* twin; poll() sends it)
function M.begin_get(c, name)
  local op = c:prepare("get_token", name)
  op:poll()
  return op
end

-- syntax: names, sm = M.seed_tokens(client, prefix, n)  -- n tokens in the client's
-- registry, under one new scope map
function M.seed_tokens(c, prefix, n)
  local sm = assert(c:create_scope_map(M.unique(prefix), { actions = { "repositories/a/content/read" } }))
  local names = {}
  for i = 1, n do
    names[i] = M.unique(prefix)
    assert(c:create_token(names[i], { scope_map = sm }))
  end
  return names, sm
end

-- syntax: share, per_s, wall = M.idle_cost(fn)
-- What fn costs this process: its CPU time as a share of the wall time, and how often
-- it went to sleep a second (voluntary context switches; nil where /proc has none). A
-- driver that spins uses about all of the wall time; one that wakes every millisecond
-- sleeps a thousand times a second. Sleeping until something is due does neither.
local function switches()
  local f = io.open("/proc/self/status", "r")
  if not f then return nil end
  local n = f:read("*a"):match("\nvoluntary_ctxt_switches:%s*(%d+)")
  f:close()
  return tonumber(n)
end
function M.idle_cost(fn)
  collectgarbage("collect")
  local c0, t0, s0 = os.clock(), M.monotime(), switches()
  fn()
  local wall = M.monotime() - t0
  return (os.clock() - c0) / wall, s0 and (switches() - s0) / wall, wall
end

-- syntax: M.assert_idle(what, share, per_s, wall, min_wall)  -- idle_cost's figures of a
-- wait that must take min_wall at least and sleep through it: under 20 % CPU, under 200
-- wakes a second
function M.assert_idle(what, share, per_s, wall, min_wall)
  assert.is_true(wall >= min_wall, ("%s: took %.2f s, not the %.1f s it waits"):format(what, wall, min_wall))
  assert.is_true(share < 0.2, ("%s: CPU was %.0f %% of the wait"):format(what, share * 100))
  if per_s then
    assert.is_true(per_s < 200, ("%s: slept %.0f times a second"):format(what, per_s))
  end
end

-- syntax: n = M.max_overlap(log)  -- the most requests the emulator had open at once,
-- from its log's start/time
function M.max_overlap(log)
  local ev = {}
  for _, e in ipairs(log) do
    ev[#ev + 1] = { e.start, 1 }
    ev[#ev + 1] = { e.time, -1 }
  end
  table.sort(ev, function(a, b) return a[1] < b[1] or (a[1] == b[1] and a[2] < b[2]) end)
  local n, best = 0, 0
  for _, x in ipairs(ev) do
    n = n + x[2]
    if n > best then best = n end
  end
  return best
end

-- syntax: mark = M.log_mark(em)  -- where the emulator's log stands now
function M.log_mark(em)
  local log = em:log()
  return log[#log] and log[#log].seq or 0
end

-- syntax: entries = M.log_since(em, mark)  -- the log entries after mark
function M.log_since(em, mark)
  local out = {}
  for _, e in ipairs(em:log()) do if e.seq > mark then out[#out + 1] = e end end
  return out
end

-- syntax: n = M.count_since(em, mark, kind)  -- entries of that kind after mark
function M.count_since(em, mark, kind)
  local n = 0
  for _, e in ipairs(M.log_since(em, mark)) do if e.kind == kind then n = n + 1 end end
  return n
end

-- syntax: M.raises(pattern, f, ...)   f(...) raises an error whose text matches pattern
function M.raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, tostring(err))
end

-- syntax: bool = M.login_works(em, sub, registry, username, password)  -- a registry
-- login with that token password works now (the emulator's /__admin/login)
function M.login_works(em, sub, reg, user, password)
  local _, status = em:admin("POST", "login", { subscription = sub, registry = reg, username = user,
                                                password = password })
  return status == 200
end

-- syntax: M.age_ledger(l, s)  -- an acr.desired.ledger's times made s seconds older, as
-- the emulator's /__admin/clock ages the times it holds: together, time seems to pass
function M.age_ledger(l, s)
  local time = require "acr.time"
  for key, slots in pairs(l:to_table()) do
    for slot, e in pairs(slots) do
      local ct = e.creation_time and time.iso(time.epoch(e.creation_time) - s)
      if e.state == "intended" then assert(l:intend(key, slot, e.at - s))
      elseif e.state == "generated" then assert(l:generated(key, slot, ct))
      else assert(l:delivered(key, slot, ct)) end
    end
  end
end

-- syntax: name = M.unique(prefix)  -- a fresh valid resource name
local n = 0
function M.unique(prefix)
  n = n + 1
  return ("%s-%d-%d"):format(prefix or "res", os.time() % 100000, n)
end

-- syntax: count = M.count_requests(em, key)  -- from the emulator's stats
function M.count_requests(em, key)
  local s = em:stats()
  return (s.requests or {})[key] or 0
end

M.helpers = helpers
return M
