-- bench/desired.lua URL N WIDTH [RUN] — one run of the desired-state scenario
-- (tools/bench.sh runs it; a benchmark, not a test), against an emulator with latency
-- and Retry-After, its ARM buckets on or off (read from /__admin/settings).
--
-- The workload: acr.plan and plan:apply over N tokens in two empty registries of two
-- subscriptions (N/2 each, one acr.Client each), BENCH_DESIRED_SCOPE_MAPS (2) scope maps
-- per registry, every token with a password policy, so each is created and then gets
-- password1 generated and delivered to a function sink (sink.func) that counts. The
-- longest chain of dependent long-running operations is: create the scope map, create
-- the token, generate its password.
--
--   t_chain  plan + apply of a third registry (another subscription) with 1 scope map
--            and 1 token, alone, measured first in the same run
--   bound    with the buckets on: max over subscriptions and kinds of
--            (requests of the kind - bucket) / refill, as concurrent.lua's throttled
--            scenario computes it (ARM's buckets are per subscription)
--   ideal    max(t_chain, bound); the target of issue 13 is wall <= 1.2 x ideal
--   paced    with the buckets on: from the first to the last request of the binding
--            subscription and kind
-- Prints one RESULT line: plan_s and apply_s split the wall; n_SUB_KIND count the
-- requests of each subscription and kind; replan_s is the empty plan right after.
-- env: BENCH_DESIRED_SCOPE_MAPS (2 a registry), BENCH_DESIRED_SINK (func; dir: a
--      directory sink, whose ledger is a file)
-- desired.lua report FILE: the table of the RESULT lines in FILE.
package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local common = require "common"

if arg[1] == "report" then
  print(("%-11s %-6s %4s %5s %-20s %8s %7s %7s %8s %7s %6s %8s %7s %6s %5s %6s"):format("scenario",
    "lua", "N", "width", "buckets", "wall s", "plan s", "chain s", "bound s", "ideal s", "ratio",
    "cpu ms/r", "rss MB", "conns", "429s", "paced"))
  for line in io.lines(arg[2]) do
    local r = common.read_result(line)
    if r then
      print(("%-11s %-6s %4d %5d %-20s %8.2f %7.2f %7.2f %8s %7.2f %6.2f %8.3f %7.1f %6d %5s %6s")
        :format(r.scenario .. (r.sink ~= "func" and "/" .. r.sink or ""), common.short_lua(r.lua), r.n, r.width,
        r.buckets, r.wall, r.plan_s, r.t_chain, r.bound and ("%.2f"):format(r.bound) or "-",
        r.ideal, r.wall / r.ideal, r.cpu * 1000 / r.requests, r.rss_kb / 1024, r.connections,
        r.throttled, (r.bound or 0) > 0 and ("%.2f"):format(r.paced / r.bound) or "-"))
    end
  end
  os.exit(0)
end

local acr = require "acr"
local desired = require "acr.desired"

local url = arg[1]
local N, WIDTH, RUN = tonumber(arg[2]), tonumber(arg[3]), tonumber(arg[4] or "1")
if not url or not N or not WIDTH or N < 2 or N % 2 ~= 0 then
  io.stderr:write("usage: desired.lua URL N WIDTH [RUN]   (N even: N/2 tokens a registry)\n")
  os.exit(2)
end
local SCOPE_MAPS = tonumber(os.getenv("BENCH_DESIRED_SCOPE_MAPS") or "2")

local wall, vm_hwm_kb = common.wall, common.vm_hwm_kb

local RG = "rg-bench"
local SUBS = { "00000000-0000-0000-0000-0000000000d1", "00000000-0000-0000-0000-0000000000d2" }
local CHAIN_SUB = "00000000-0000-0000-0000-0000000000d0"
local tag = ("%d%s"):format(RUN, jit and "j" or "")
local REGS = { "benchdesa" .. tag, "benchdesb" .. tag }
local CHAIN_REG = "benchdesc" .. tag

local function new_client(sub, registry, credential)
  return acr.client { subscription_id = sub, resource_group = RG, endpoint = url,
                      registry = registry, credential = credential }
end

local admin = new_client(CHAIN_SUB, "admin", acr.credential.static("unused"))
local function admin_call(method, path, body)
  return common.admin_call(admin, url, method, path, body)
end
local token = admin_call("POST", "token", {}).access_token
admin_call("POST", "reset", {})   -- empty registries, a short log, full buckets
local settings = admin_call("GET", "settings")
local buckets = settings.throttle   -- false, or { reads = { bucket, refill }, … }

-- The desired state of registry `name` in `sub`: `ntok` tokens over `nsm` scope maps.
local POLICY = { lifetime = "90d", rotate_before = "30d", retire_after = "1d" }
local function registry_of(sub, name, ntok, nsm)
  local r = { subscription = sub, resource_group = RG, name = name, scope_maps = {}, tokens = {} }
  for j = 1, nsm do
    r.scope_maps[("pull-%02d"):format(j)] = {
      actions = { ("repositories/app%02d/content/read"):format(j),
                  ("repositories/app%02d/metadata/read"):format(j) },
      description = "bench" }
  end
  for i = 1, ntok do
    r.tokens[("tok-%04d"):format(i)] = { scope_map = ("pull-%02d"):format((i - 1) % nsm + 1),
      status = "enabled", passwords = POLICY }
  end
  admin_call("POST", "registries", { subscription = sub, resource_group = RG, name = name })
  return r
end

-- The function sink: it counts, and keeps nothing. BENCH_DESIRED_SINK=dir: a
-- directory sink (its ledger a file) in a temporary directory, counted as well.
local delivered, withdrawn = 0, 0
local function count(s)
  if s.action == "deliver" then delivered = delivered + 1 else withdrawn = withdrawn + 1 end
  return true
end
local SINK = os.getenv("BENCH_DESIRED_SINK") or "func"
local sink, sink_dir
if SINK == "func" then
  sink = desired.sink.func(count)
elseif SINK == "dir" then
  sink_dir = os.tmpname()
  os.remove(sink_dir)
  local real = assert(desired.sink.dir(sink_dir))
  sink = { ledger = real.ledger,
           deliver = function(_, s) count(s); return real:deliver(s) end,
           withdraw = function(_, r) count(r); return real:withdraw(r) end }
else
  io.stderr:write("desired.lua: BENCH_DESIRED_SINK must be func or dir\n")
  os.exit(2)
end

-- plan + apply of d with clients; returns the seconds of each, and the result.
local function plan_apply(clients, d, width)
  local t0 = wall()
  local p = assert(acr.plan(clients, d, { sink = sink }))
  local t1 = wall()
  local result = p:apply { width = width, sink = sink }
  local t2 = wall()
  if not result.ok then
    for _, r in ipairs(result.changes) do
      if not r.ok then error("a change failed: " .. tostring(r.err), 0) end
    end
  end
  return t1 - t0, t2 - t1, result, #p.changes
end

local result = { scenario = "desired", n = N, width = WIDTH, lua = jit and jit.version or _VERSION,
                 scope_maps = SCOPE_MAPS, sink = SINK }

-- The longest chain alone: scope map, token, its password (default width).
local chain_d = assert(desired.check { registries = { registry_of(CHAIN_SUB, CHAIN_REG, 1, 1) } })
local chain_client = new_client(CHAIN_SUB, CHAIN_REG, acr.credential.static(token))
local cp, ca = plan_apply({ chain_client }, chain_d)
result.t_chain = cp + ca
chain_client:close()

local regs = {}
for k = 1, 2 do regs[k] = registry_of(SUBS[k], REGS[k], N / 2, SCOPE_MAPS) end
local d = assert(desired.check { registries = regs })
local clients = {}
for k = 1, 2 do clients[k] = new_client(SUBS[k], REGS[k], acr.credential.static(token)) end

delivered, withdrawn = 0, 0
local log0 = admin_call("GET", "log")
local mark = log0[#log0] and log0[#log0].seq or 0
local before = admin_call("GET", "stats")
collectgarbage()
local c0 = os.clock()
local plan_s, apply_s, res, nchanges = plan_apply(clients, d, WIDTH)
result.cpu = os.clock() - c0
result.wall = plan_s + apply_s
result.plan_s, result.apply_s = plan_s, apply_s
local after = admin_call("GET", "stats")
local log = admin_call("GET", "log")
result.requests = after.total - before.total
result.connections = clients[1]:connections() + clients[2]:connections()
result.rss_kb = vm_hwm_kb()
result.changes = nchanges
result.delivered = delivered
if res.succeeded ~= nchanges or delivered ~= N then
  error(("%d of %d changes succeeded, %d of %d passwords delivered"):format(res.succeeded,
    nchanges, delivered, N), 0)
end
if log[1] and log[1].seq > mark + 1 then
  error("the emulator's log lost entries of the run (it keeps 10,000)", 0)
end

-- The bucket bound, per subscription and kind, from the requests the emulator took in.
local n429, bound, binding = 0, 0, nil
local count, first, last = {}, {}, {}
for _, e in ipairs(log) do
  local sub = e.seq > mark and e.path:match("^/subscriptions/([^/]+)")
  if sub then
    local k = sub:lower() .. " " .. ((e.method == "GET" or e.method == "HEAD") and "reads"
      or e.method == "DELETE" and "deletes" or "writes")
    if e.throttled then n429 = n429 + 1 else count[k] = (count[k] or 0) + 1 end
    first[k] = first[k] or e.start
    last[k] = e.start
  end
end
result.throttled = n429
if buckets then
  result.buckets = ("%d+%g/%d+%g/%d+%g"):format(buckets.reads[1], buckets.reads[2],
    buckets.writes[1], buckets.writes[2], buckets.deletes[1], buckets.deletes[2])
  for k, n in pairs(count) do
    local b = buckets[k:match("%S+$")]
    local t = (n - b[1]) / b[2]
    if t > bound then bound, binding = t, k end
  end
  result.bound = bound
  result.binding = binding and binding:gsub("^%S*(%x%x) ", "sub-%1-") or "none"
  result.paced = binding and last[binding] - first[binding] or 0
else
  result.buckets = "off"
end
result.ideal = math.max(result.t_chain, bound)
for k, n in pairs(count) do result["n_" .. k:gsub("^%S*(%x%x) ", "%1_")] = n end

-- Run again right after, the plan is empty: the no-op plan over the N tokens, timed
-- apart (replan_s, replan_cpu), as a scheduled run would be most days.
local r0, rc0 = wall(), os.clock()
local again = assert(acr.plan(clients, d, { sink = sink }))
result.replan_s, result.replan_cpu = wall() - r0, os.clock() - rc0
if #again.changes ~= 0 then error(("the plan after the apply has %d changes"):format(#again.changes), 0) end
for _, c in ipairs(clients) do c:close() end
admin:close()
if sink_dir then os.execute("rm -rf '" .. sink_dir .. "'") end

common.print_result(result)
