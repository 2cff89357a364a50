-- bench/concurrent.lua SCENARIO URL N WIDTH RUN — one run of a concurrent scenario
-- (tools/bench.sh runs them; a benchmark, not a test). Each of N seeded tokens gets
-- password2 rotated (generateCredentials) and is then disabled (PATCH), both
-- long-running, as an acr.batch with at most WIDTH in flight.
--   latency    against an emulator with latency and Retry-After: wall time against the
--              ideal, ceil(N / WIDTH) waves of the time one token takes alone
--   latency2   the same with the N tokens shared by two clients (two registries) in one
--              batch, which acr.drive waits on together
--   throttled  against an emulator with ARM's buckets: wall time against the bucket
--              bound, max over kinds of (requests of the kind - bucket) / refill;
--              "paced" is the time from the first to the last request of the kind
--              that binds, against that bound (the wall adds the last job's own wait)
-- Prints one RESULT line.
-- concurrent.lua report FILE: the table of the RESULT lines in FILE.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local common = require "common"

if arg[1] == "report" then
  print(("%-9s %-6s %4s %5s %9s %9s %6s %8s %7s %6s %5s %7s"):format("scenario", "lua", "N", "width",
    "wall s", "ideal s", "ratio", "cpu ms/r", "rss MB", "conns", "429s", "paced"))
  for line in io.lines(arg[2]) do
    local r = common.read_result(line)
    if r then
      print(("%-9s %-6s %4d %5d %9.2f %9.2f %6.2f %8.3f %7.1f %6d %5s %7s"):format(r.scenario,
        common.short_lua(r.lua), r.n, r.width, r.wall, r.ideal,
        r.wall / r.ideal, r.cpu * 1000 / r.requests, r.rss_kb / 1024, r.connections,
        r.throttled or "-", r.paced and ("%.2f"):format(r.paced / r.ideal) or "-"))
    end
  end
  os.exit(0)
end

local acr = require "acr"
local batch = require "acr.batch"

local scenario, url = arg[1], arg[2]
local N, WIDTH, RUN = tonumber(arg[3]), tonumber(arg[4]), tonumber(arg[5] or "1")
if (scenario ~= "latency" and scenario ~= "latency2" and scenario ~= "throttled") or not url
   or not N or not WIDTH then
  io.stderr:write("usage: concurrent.lua latency|latency2|throttled URL N WIDTH [RUN]\n")
  os.exit(2)
end

local wall, vm_hwm_kb = common.wall, common.vm_hwm_kb

local SUB = "00000000-0000-0000-0000-0000000000c2"
local function new_client(credential, registry)
  return acr.client { subscription_id = SUB, resource_group = "rg-bench", endpoint = url,
                      registry = registry, credential = credential }
end

local admin = new_client(acr.credential.static("unused"), "admin")
local function admin_call(method, path, body)
  return common.admin_call(admin, url, method, path, body)
end
local token = admin_call("POST", "token", {}).access_token
admin_call("POST", "reset", {})

-- The job of token i: rotate password2, then (as another job) disable it. The tokens
-- are dealt out to the clients in turn.
local function jobs_for(clients, first, last)
  local names, owner, jobs = {}, {}, {}
  for i = first, last do
    local name, client = ("seed-token-%04d"):format(i), clients[#names % #clients + 1]
    names[#names + 1], owner[#names + 1] = name, client
    jobs[#jobs + 1] = function()
      return client:begin_generate_credentials { token = name, name = "password2" }
    end
  end
  local steps = {}
  local function on_done(i, value, err, b)
    if i <= #names and value then
      local client = owner[i]
      steps[b:add(function() return client:begin_update_token(names[i], { status = "disabled" }) end, true)] = true
    end
  end
  return jobs, on_done
end

local function run(clients, first, last, width)
  local jobs, on_done = jobs_for(clients, first, last)
  local t0 = wall()
  local summary = batch.run(jobs, { width = width, on_done = on_done })
  if summary.failed > 0 then
    for _, r in pairs(summary.results) do
      if r.err then error("a job failed: " .. tostring(r.err), 0) end
    end
  end
  return wall() - t0, summary.total
end

local reg = ("bench%s%d%s"):format(scenario, RUN, jit and "j" or "")
-- made now (with --seed-data's tokens): registries exist only when seeded or made
admin_call("POST", "registries", { subscription = SUB, resource_group = "rg-bench", name = reg })
local client = new_client(acr.credential.static(token), reg)
local clients = { client }
if scenario == "latency2" then
  admin_call("POST", "registries", { subscription = SUB, resource_group = "rg-bench", name = reg .. "b" })
  clients[2] = new_client(acr.credential.static(token), reg .. "b")
end
local result = { scenario = scenario, n = N, width = WIDTH, lua = jit and jit.version or _VERSION }
local log0 = admin_call("GET", "log")
local mark = log0[#log0] and log0[#log0].seq or 0

if scenario ~= "throttled" then
  result.one = run({ client }, N + 1, N + 1, 1)   -- one token alone: the unit of the ideal
  -- the second client's registry and connection warmed up the same way
  if clients[2] then run({ clients[2] }, N + 1, N + 1, 1) end
  log0 = admin_call("GET", "log")
  mark = log0[#log0] and log0[#log0].seq or 0
end

local before = admin_call("GET", "stats")
local c0 = os.clock()
result.wall = run(clients, 1, N, WIDTH)
result.cpu = os.clock() - c0
local after = admin_call("GET", "stats")
result.requests = after.total - before.total
result.connections = 0
for _, c in ipairs(clients) do result.connections = result.connections + c:connections() end
result.rss_kb = vm_hwm_kb()

if scenario ~= "throttled" then
  result.ideal = math.ceil(N / WIDTH) * result.one
else
  local cap = { reads = 250, writes = 200, deletes = 200 }
  local rate = { reads = 25, writes = 10, deletes = 10 }
  local count, n429 = { reads = 0, writes = 0, deletes = 0 }, 0
  local first, last = {}, {}   -- kind -> when its first and last request arrived
  for _, e in ipairs(admin_call("GET", "log")) do
    if e.seq > mark and e.path:find("^/subscriptions/") then
      local k = (e.method == "GET" or e.method == "HEAD") and "reads"
                or e.method == "DELETE" and "deletes" or "writes"
      if e.throttled then n429 = n429 + 1 else count[k] = count[k] + 1 end
      first[k] = first[k] or e.start
      last[k] = e.start
    end
  end
  local bound, binding = 0, nil
  for k, n in pairs(count) do
    local b = (n - cap[k]) / rate[k]
    if b > bound then bound, binding = b, k end
  end
  result.ideal, result.throttled = bound, n429
  -- the pacing alone: from the first to the last request of the kind that binds (the
  -- wall time adds the last job's own wait for its long-running operation)
  result.paced = binding and last[binding] - first[binding] or 0
end
for _, c in ipairs(clients) do c:close() end
admin:close()

common.print_result(result)
