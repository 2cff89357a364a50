-- Secrets are wiped from memory when released: after cred:close(), client:close() and a
-- full collection, no copy of the bearer token or of the client secret is left anywhere
-- in the process (freed heap blocks included), for the blocking driver.
--
-- A child interpreter of this flavour makes an environment credential (the secret comes
-- from AZURE_CLIENT_SECRET, read in C, so no Lua string of the caller's holds it), fetches
-- a token from the emulator, sends it to ARM, closes everything, collects, and blocks on
-- its stdin. This spec then reads every readable, writable mapping of the child through
-- /proc/<pid>/mem and counts the copies. The emulator lists the tokens it issued
-- (/__admin/issued), so the token is known here without the child handing it over.
--
-- What may remain of the secret is what the environment holds: the process's environment
-- block and, under ASan, the sanitizer's own copy of it. A second variable the child never
-- reads, of the same length, counts those copies; the secret may have no more.
local ch = require "client_helpers"
local helpers = ch.helpers
local q = helpers.quote

local TENANT = "00000000-0000-0000-0000-0000000000e1"
local MAX_REGION = 256 * 1024 * 1024   -- larger mappings are reservations (ASan's shadow)
local CHUNK = 1024 * 1024

local function random_hex(n)
  local f = assert(io.open("/dev/urandom", "rb"))
  local bytes = f:read(n)
  f:close()
  return (bytes:gsub(".", function(c) return ("%02x"):format(c:byte()) end))
end

local function wait_for(path, seconds)
  for _ = 1, seconds * 10 do
    local s = helpers.read_file(path)
    if s and s:find("\n") then return s end
    helpers.sh("sleep 0.1")
  end
end

-- Counts the occurrences of each needle in one region of the process behind `mem`.
local function scan_region(mem, lo, hi, needles, counts, overlap)
  if not mem:seek("set", lo) then return end
  local carry, at = "", lo
  while at < hi do
    local n = math.min(CHUNK, hi - at)
    local data = mem:read(n)
    if not data then return end   -- an unreadable page: the rest of the region is skipped
    local text = carry .. data
    for name, needle in pairs(needles) do
      local i = text:find(needle, 1, true)
      while i do
        counts[name] = counts[name] + 1
        i = text:find(needle, i + 1, true)
      end
    end
    carry = text:sub(-overlap)   -- shorter than any needle: no match is counted twice
    at = at + #data
  end
end

-- syntax: counts = scan(pid, {name = string, …})
local function scan(pid, needles)
  local counts, longest = {}, 0
  for name, needle in pairs(needles) do
    counts[name] = 0
    longest = math.max(longest, #needle)
  end
  local maps = assert(io.open("/proc/" .. pid .. "/maps"))
  local mem = assert(io.open("/proc/" .. pid .. "/mem", "rb"))
  for line in maps:lines() do
    local a, b, perms = line:match("^(%x+)%-(%x+) (%S+)")
    local lo, hi = tonumber(a, 16), tonumber(b, 16)
    if perms and perms:sub(1, 2) == "rw" and hi - lo <= MAX_REGION then
      scan_region(mem, lo, hi, needles, counts, longest - 1)
    end
  end
  maps:close()
  mem:close()
  return counts
end

-- The child: everything the credential and the client held is released before it
-- reports ready; only the canary, a string it keeps, shows that the heap is scanned.
local CHILD = [[
local ready, url, ca_file, canary_part = arg[1], arg[2], arg[3], arg[4]
if ca_file == "" then ca_file = nil end
local acr = require "acr"
local function run()
  local cred = assert(acr.credential.environment())
  assert(cred:kind() == "client_secret", cred:kind())
  local c = acr.client{ subscription_id = %q, resource_group = %q, registry = %q,
    endpoint = url, ca_file = ca_file, credential = cred, poll_interval = 0 }
  local _, err = c:get_token("nosuch-token")
  assert(err and err.status == 404, "ARM did not answer 404: " .. tostring(err))
  for _ in c:tokens() do end
  cred:close()
  c:close()
end
local ok, err = pcall(run)
collectgarbage("collect")
collectgarbage("collect")
local canary = table.concat({ "wipe-canary-", canary_part })
local f = assert(io.open(ready, "w"))
f:write(ok and "ready\n" or ("error " .. tostring(err):gsub("\n", " ") .. "\n"))
f:close()
io.read("*a")   -- until the spec closes our stdin
assert(#canary > 0)
]]

-- Runs the child against em; returns the counts of what it left behind.
local function measure(em, tmp)
  local cid = "wipe-" .. random_hex(8)
  local secret, control = random_hex(24), random_hex(24)
  em:reset()
  assert(em:admin("POST", "clients", { client_id = cid, client_secret = secret }))
  local canary_part = random_hex(24)
  local script, ready, pidfile = tmp .. "/child.lua", tmp .. "/ready", tmp .. "/pid"
  local out, errf = tmp .. "/child.out", tmp .. "/child.err"
  os.remove(ready)
  helpers.write_file(script, CHILD:format(ch.SUB, ch.RG, ch.REG))
  local interp = os.getenv("ACR_LUA") or select(2, helpers.sh("command -v lua5.4")):gsub("%s+$", "")
  local cpath = (os.getenv("ACR_CPATH") or (helpers.root .. "/build/lua5.4/?.so")) .. ";;"
  local env = { AZURE_TENANT_ID = TENANT, AZURE_CLIENT_ID = cid, AZURE_CLIENT_SECRET = secret,
                AZURE_AUTHORITY_HOST = em.url, ACR_SPEC_CONTROL = control, LUA_CPATH = cpath }
  local parts = { "echo $$ >" .. q(pidfile) .. ";", "exec env" }
  for k, v in pairs(env) do parts[#parts + 1] = q(k .. "=" .. v) end
  for _, a in ipairs { interp, script, ready, em.url, em.ca_file or "", canary_part } do
    parts[#parts + 1] = q(a)
  end
  parts[#parts + 1] = ">" .. q(out) .. " 2>" .. q(errf)
  local child = assert(io.popen(table.concat(parts, " "), "w"))
  local status = wait_for(ready, 120)
  local pid = (helpers.read_file(pidfile) or ""):match("%d+")
  local counts
  if status == "ready\n" and pid then
    local issued = assert(em:admin("GET", "issued"))
    assert.are.equal(1, #issued, "the child fetched one token")
    local token = issued[1]
    counts = scan(pid, {
      token = token, signature = token:match("[^.]+$"),
      secret = secret:sub(-32), control = control:sub(-32),
      canary = canary_part:sub(-32),
    })
  end
  child:close()   -- the child reads EOF and exits (under ASan, through the leak check)
  local stderr = helpers.read_file(errf) or ""
  assert.is_nil(stderr:find("Sanitizer", 1, true), stderr)
  assert(status, "the child did not report ready; stderr: " .. stderr)
  assert.are.equal("ready\n", status, stderr)
  return counts
end

local function check(counts)
  local report = ("bearer token: %d copies, %d of its signature; client secret: %d copies"
    .. " (the environment's: %d); canary: %d"):format(counts.token, counts.signature,
    counts.secret, counts.control, counts.canary)
  print(("\n[%s] %s"):format(os.getenv("ACR_FLAVOUR") or "lua5.4", report))
  assert.is_true(counts.canary >= 2, "the scan missed the heap: " .. report)
  assert.is_true(counts.control >= 1, "the scan missed the environment: " .. report)
  assert.are.equal(0, counts.token, report)
  assert.are.equal(0, counts.signature, report)
  assert.is_true(counts.secret <= counts.control, report)
end

describe("secrets wiped from memory #emulator #wipe", function()
  local tmp
  setup(function() tmp = helpers.tmpdir("acr-wipe") end)
  teardown(function() if tmp then helpers.rmdir(tmp) end end)

  for _, tls in ipairs { false, true } do
    it("leaves no bearer token and no client secret after close and collection ("
       .. (tls and "https" or "http") .. ")", function()
      local em = helpers.start_emulator{ tls = tls, retry_after = 0, polls = 0 }
      local ok, counts = pcall(measure, em, tmp)
      em:stop()
      assert(ok, counts)
      check(counts)
    end)
  end
end)
