-- bench/bench.lua — one measured run of one scenario against a running acr-emulator.
-- A benchmark, not a test: it prints one RESULT line that bench/report.lua reads.
--
--   lua5.4 bench/bench.lua SCENARIO URL [CA_FILE]
--     SCENARIO  lifecycle  N tokens: create scope map, create token, get, update,
--                          generate credentials, delete token, delete scope map
--               listing    `for tok in client:tokens()` over a registry of
--                          BENCH_SEEDED tokens (the emulator's --seed-data)
--   env: BENCH_N (lifecycle tokens, default 200), BENCH_PAGE (listing page size, 100),
--        BENCH_SEEDED (tokens expected in the listing, 5000), BENCH_RUN (a run number)
--
-- Measured, around the scenario only: requests and TCP connections (from the
-- emulator's /__admin/stats, before and after), wall time (luasystem's monotonic
-- clock, else /proc/uptime), CPU time (os.clock: this process, user + system),
-- peak RSS (VmHWM, /proc/self/status: the whole process) and, for the listing,
-- Lua memory (collectgarbage "count") at every page boundary.

package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local acr = require "acr"
local common = require "common"

local scenario, url, ca_file = arg[1], arg[2], arg[3]
if (scenario ~= "lifecycle" and scenario ~= "listing") or not url then
  io.stderr:write("usage: bench.lua lifecycle|listing URL [CA_FILE]\n")
  os.exit(2)
end
if ca_file == "" then ca_file = nil end
local N = tonumber(os.getenv("BENCH_N") or "200")
local PAGE = tonumber(os.getenv("BENCH_PAGE") or "100")
local SEEDED = tonumber(os.getenv("BENCH_SEEDED") or "5000")
local RUN = tonumber(os.getenv("BENCH_RUN") or "1")

local wall, vm_hwm_kb = common.wall, common.vm_hwm_kb

-- A fresh registry per run, made through /__admin/registries (with the seeded
-- tokens) before the measurement.
local SUB = "00000000-0000-0000-0000-0000000000b1"
local RG = "rg-bench"
local REG = ("bench%s%d"):format(scenario == "listing" and "list" or "life", RUN)

-- The admin client fetches the bearer token, warms the registry up and reads
-- the stats; it has its own connection, so the measured client's are its own.
local function new_client(credential)
  return acr.client {
    subscription_id = SUB, resource_group = RG, registry = REG, endpoint = url,
    ca_file = ca_file, credential = credential,
  }
end
local admin = new_client(acr.credential.static("unused"))
local function admin_call(method, path, body)
  return common.admin_call(admin, url, method, path, body)
end
local token = admin_call("POST", "token", {}).access_token
admin:close()
admin = new_client(acr.credential.static(token))
-- Every run starts from a fresh emulator state: /__admin/reset drops the
-- registries, the finished operations and the request log, which otherwise grow
-- from run to run and slow the server down (the log keeps 10,000 entries).
admin_call("POST", "reset", {})
admin_call("POST", "registries", { subscription = SUB, resource_group = RG, name = REG })
admin:get_token("no-such-token")   -- warms the connection up (the 404 is expected)
local before = admin_call("GET", "stats")

local client = new_client(acr.credential.static(token))
local result = { scenario = scenario, lua = jit and jit.version or _VERSION,
  transport = url:match("^https:") and "tls" or "http" }

local function check(v, err)
  if v == nil then error(tostring(err), 2) end
  return v
end

collectgarbage()
collectgarbage()
local t0, c0 = wall(), os.clock()

if scenario == "lifecycle" then
  for i = 1, N do
    local sm = check(client:create_scope_map(("bench-map-%05d"):format(i), {
      actions = { "repositories/bench/content/read", "repositories/bench/metadata/read" } }))
    local tok = check(client:create_token(("bench-token-%05d"):format(i), { scope_map = sm }))
    check(client:get_token(tok.name))
    check(tok:update { status = "disabled" })
    check(tok:generate_credentials { name = "password1" })
    check(tok:delete())
    check(sm:delete())
  end
  result.items = N
else
  -- Memory at each page boundary: the raw count (garbage included: the GC runs
  -- as it likes), and the live heap after a full collection at the first and
  -- the last boundary only (a collection per page would distort the timing).
  local count, pages, mem_max, samples = 0, 0, 0, {}
  local live_first, live_last
  for tok in client:tokens() do
    count = count + 1
    local _ = tok.name, tok.status
    if count % PAGE == 0 then
      pages = pages + 1
      local kb = collectgarbage("count")
      if kb > mem_max then mem_max = kb end
      samples[pages] = ("%.0f"):format(kb)
      if pages == 1 then
        collectgarbage()
        live_first = collectgarbage("count")
      end
    end
  end
  collectgarbage()
  live_last = collectgarbage("count")
  if count ~= SEEDED then error(("listed %d tokens, expected %d"):format(count, SEEDED)) end
  result.items, result.pages = count, pages
  result.live_first_kb, result.live_last_kb = live_first, live_last
  result.mem_max_kb = mem_max
  result.mem_pages_kb = table.concat(samples, ",")
end

result.wall = wall() - t0
result.cpu = os.clock() - c0
local after = admin_call("GET", "stats")
result.requests = after.total - before.total
result.connections = after.connections - before.connections
result.client_connections = client:connections()
result.rss_kb = vm_hwm_kb()
client:close()
admin:close()

common.print_result(result)
