-- bench/report.lua — reads the RESULT lines of bench/bench.lua (a file, or stdin)
-- and prints the median of each measure per scenario, transport and Lua.
--
--   lua5.4 bench/report.lua results.txt

package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local common = require "common"

local f = arg[1] and assert(io.open(arg[1])) or io.stdin
local groups, order = {}, {}
for line in f:lines() do
  local r = common.read_result(line)
  if r then
    local key = r.scenario .. "|" .. r.transport .. "|" .. r.lua
    if not groups[key] then
      groups[key] = {}
      order[#order + 1] = key
    end
    r.rps = r.requests / r.wall
    table.insert(groups[key], r)
  end
end
if f ~= io.stdin then f:close() end
if #order == 0 then
  io.stderr:write("report: no RESULT lines\n")
  os.exit(1)
end

local function median(list, field)
  local v = {}
  for i, r in ipairs(list) do v[i] = r[field] end
  table.sort(v)
  local n = #v
  if n == 0 then return nil end
  if n % 2 == 1 then return v[(n + 1) / 2] end
  return (v[n / 2] + v[n / 2 + 1]) / 2
end

local function spread(list, field)
  local lo, hi
  for _, r in ipairs(list) do
    local x = r[field]
    lo = (not lo or x < lo) and x or lo
    hi = (not hi or x > hi) and x or hi
  end
  return lo, hi
end

local rank = { lifecycle = 1, listing = 2, http = 1, tls = 2 }
table.sort(order, function(a, b)
  local sa, ta, la = a:match("^([^|]*)|([^|]*)|(.*)$")
  local sb, tb, lb = b:match("^([^|]*)|([^|]*)|(.*)$")
  if sa ~= sb then return (rank[sa] or 9) < (rank[sb] or 9) end
  if ta ~= tb then return (rank[ta] or 9) < (rank[tb] or 9) end
  return la < lb   -- "Lua 5.4" before "LuaJIT …"
end)

local header = { "scenario", "transport", "lua", "runs", "items", "requests", "conns",
  "wall s", "(min-max)", "cpu s", "req/s", "peak RSS MB", "Lua heap KB live first/last (max)" }
local rows = {}
for _, key in ipairs(order) do
  local g = groups[key]
  local r1 = g[1]
  local lo, hi = spread(g, "wall")
  local heap = ""
  if r1.scenario == "listing" then
    heap = ("%.0f/%.0f (%.0f)"):format(median(g, "live_first_kb"), median(g, "live_last_kb"),
      median(g, "mem_max_kb"))
  end
  rows[#rows + 1] = {
    r1.scenario, r1.transport, r1.lua, tostring(#g), ("%d"):format(median(g, "items")),
    ("%d"):format(median(g, "requests")), ("%d"):format(median(g, "connections")),
    ("%.3f"):format(median(g, "wall")), ("%.3f-%.3f"):format(lo, hi),
    ("%.3f"):format(median(g, "cpu")), ("%.0f"):format(median(g, "rps")),
    ("%.1f"):format(median(g, "rss_kb") / 1024), heap,
  }
end

local width = {}
for c, h in ipairs(header) do width[c] = #h end
for _, r in ipairs(rows) do
  for c, v in ipairs(r) do if #v > width[c] then width[c] = #v end end
end
local function line(cells)
  local out = {}
  for c, v in ipairs(cells) do
    -- numbers right-aligned, words left-aligned
    local fmt = (c >= 4 and c <= 12) and ("%" .. width[c] .. "s") or ("%-" .. width[c] .. "s")
    out[c] = fmt:format(v)
  end
  print((table.concat(out, "  "):gsub("%s+$", "")))
end
line(header)
local rule = {}
for c = 1, #header do rule[c] = ("-"):rep(width[c]) end
line(rule)
for _, r in ipairs(rows) do line(r) end
-- The raw Lua memory at every page boundary of one listing run per group
-- (the first): it saws with the collector's cycles and does not climb.
for _, key in ipairs(order) do
  local r = groups[key][1]
  if r.scenario == "listing" and type(r.mem_pages_kb) == "string" then
    local kb = {}
    for v in r.mem_pages_kb:gmatch("[^,]+") do kb[#kb + 1] = v end
    print(("Lua KB per page, %s %s: %s"):format(r.transport, r.lua, table.concat(kb, " ")))
  end
end
print("medians of each group's runs; wall (min-max) shows the spread; conns = TCP connections the")
print("emulator accepted during the run; peak RSS = VmHWM of the whole Lua process")
