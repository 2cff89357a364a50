-- acr-emulator: ARM's throttling (token buckets per subscription and kind, 429
-- SubscriptionRequestsThrottled + Retry-After, x-ms-ratelimit-remaining-*), set by
-- the admin settings call and by --throttle; off by default.
package.path = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/?.lua;" .. package.path
local helpers = require "helpers"
local q = helpers.quote
local BIN = helpers.emulator_bin

local SUB_A = "0000000a-0000-4000-8000-00000000thra"
local SUB_B = "0000000b-0000-4000-8000-00000000thrb"
local ARM_BUCKETS = { reads = { 250, 25 }, writes = { 200, 10 }, deletes = { 200, 10 } }
local MAP = { properties = { actions = { "repositories/thr/content/read" } } }
local REMAINING = "x-ms-ratelimit-remaining-subscription-"

local function registry(em, sub) return em:registry_path(sub or SUB_A, "rg-thr", "thrregistry") end
local REGISTRIES = { SUB_A .. "/rg-thr/thrregistry", SUB_B .. "/rg-thr/thrregistry" }

-- syntax: answers = burst(em, method, path, n)
-- n requests from one curl over one kept-alive connection, so the whole burst takes
-- milliseconds and the refill cannot hand back a token in the middle of it.
-- answers[i] = { status =, reads =, writes =, deletes =, retry_after = } ("" when absent)
local function burst(em, method, path, n)
  em._token = em._token or em:token(86400)
  local url = em.url .. path .. "?api-version=" .. helpers.API_VERSION .. "&n=[1-" .. n .. "]"
  local out = "%{http_code}|%header{" .. REMAINING .. "reads}|%header{" .. REMAINING
    .. "writes}|%header{" .. REMAINING .. "deletes}|%header{retry-after}\\n"
  local cmd = ("curl -sS -X %s -o /dev/null -H %s -w %s"):format(method,
    q("Authorization: Bearer " .. em._token), q(out))
  local ok, text = helpers.sh(cmd .. " " .. q(url))
  assert(ok, text)
  local answers = {}
  for s, r, w, d, ra in text:gmatch("(%d+)|([^|\n]*)|([^|\n]*)|([^|\n]*)|([^|\n]*)\n") do
    answers[#answers + 1] = { status = tonumber(s), reads = r, writes = w, deletes = d, retry_after = ra }
  end
  assert.are.equal(n, #answers, text)
  return answers
end

local function column(answers, key)
  local out = {}
  for i, a in ipairs(answers) do out[i] = a[key] end
  return out
end

local function throttled_in_log(em)
  local n = 0
  for _, e in ipairs(em:log()) do
    if e.status == 429 and e.throttled then n = n + 1 end
  end
  return n
end

describe("acr-emulator throttling #emulator", function()
  local em, defaults

  setup(function()
    em = helpers.start_emulator { retry_after = 0, polls = 0, registries = REGISTRIES }
    defaults = em:settings()
  end)

  lazy_teardown(function()
    if em then em:stop() end
  end)

  before_each(function()
    em:settings { throttle = false, fail_rate = 0 }
    em:reset()
  end)

  it("is off by default: no 429 past ARM's 250 reads, and the old counters", function()
    assert.is_false(defaults.throttle)
    local answers = burst(em, "GET", registry(em) .. "/scopeMaps", 300)
    for i, a in ipairs(answers) do
      assert.are.equal(200, a.status)
      -- unchanged from before throttling existed: 11999 down, never near 0
      assert.are.equal(tostring(12000 - i), a.reads)
      assert.are.equal("", a.retry_after)
    end
    local _, h = em:arm("PUT", registry(em) .. "/scopeMaps/off-map", { body = MAP })
    assert.are.equal("1199", h[REMAINING .. "writes"])
    assert.are.equal(0, throttled_in_log(em))
  end)

  it("answers the 6th GET of a burst with 429 when reads=5/1, then serves after Retry-After", function()
    em:settings { throttle = "reads=5/1" }
    local answers = burst(em, "GET", registry(em) .. "/scopeMaps", 6)
    assert.are.same({ 200, 200, 200, 200, 200, 429 }, column(answers, "status"))
    assert.are.same({ "4", "3", "2", "1", "0", "0" }, column(answers, "reads"))
    assert.are.equal("1", answers[6].retry_after)

    local s, h, _, j = em:arm("GET", registry(em) .. "/scopeMaps")
    assert.are.equal(429, s)
    assert.are.equal("application/json; charset=utf-8", h["content-type"])
    assert.are.equal("0", h[REMAINING .. "reads"])
    assert.is_nil(h[REMAINING .. "writes"])
    assert.is_string(h["x-ms-request-id"])
    local wait = tonumber(h["retry-after"])
    assert.is_true(wait >= 1 and wait == math.floor(wait), h["retry-after"])
    assert.are.equal("SubscriptionRequestsThrottled", j.error.code)
    assert.is_nil(j.status)
    assert.matches("^Number of 'read' requests for subscription '" .. SUB_A:gsub("%-", "%%-")
      .. "' actor '[^']+' exceeded%. Please try again after '" .. wait .. "' seconds after", j.error.message)

    helpers.sh("sleep " .. wait)
    local s2, h2 = em:arm("GET", registry(em) .. "/scopeMaps")
    assert.are.equal(200, s2)
    assert.matches("^%d+$", h2[REMAINING .. "reads"])
    assert.are.equal(2, throttled_in_log(em))
  end)

  it("keeps reads, writes and deletes in separate buckets", function()
    em:settings { throttle = { reads = { 2, 0.1 }, writes = { 3, 0.1 }, deletes = { 2, 0.1 } } }
    local reg = registry(em)
    local reads = burst(em, "GET", reg .. "/scopeMaps", 3)
    assert.are.same({ 200, 200, 429 }, column(reads, "status"))
    assert.are.same({ "1", "0", "0" }, column(reads, "reads"))
    -- a token every 10 s: Retry-After follows the refill rate
    local wait = tonumber(reads[3].retry_after)
    assert.is_true(wait >= 9 and wait <= 10, reads[3].retry_after)

    local s, h = em:arm("PUT", reg .. "/scopeMaps/sep-map", { body = MAP })
    assert.are.equal(200, s)
    assert.are.equal("2", h[REMAINING .. "writes"])
    assert.is_nil(h[REMAINING .. "reads"])
    s, h = em:arm("PATCH", reg .. "/scopeMaps/sep-map", { body = { properties = { description = "d" } } })
    assert.are.equal(201, s)
    assert.are.equal("1", h[REMAINING .. "writes"])
    s, h = em:arm("POST", reg .. "/generateCredentials", { body = { tokenId = reg .. "/tokens/no-token" } })
    assert.are.equal(404, s)
    assert.are.equal("0", h[REMAINING .. "writes"])
    local deletes = burst(em, "DELETE", reg .. "/scopeMaps/gone-map", 3)
    assert.are.same({ 204, 204, 429 }, column(deletes, "status"))
    assert.are.same({ "1", "0", "0" }, column(deletes, "deletes"))
    assert.are.same({ "", "", "" }, column(deletes, "writes"))
    assert.are.equal(429, (em:arm("PUT", reg .. "/scopeMaps/sep-map", { body = MAP })))
    assert.are.equal(429, (em:arm("GET", reg .. "/scopeMaps")))
    assert.are.equal(4, throttled_in_log(em))
  end)

  it("gives each subscription its own buckets, whatever the id's case", function()
    em:settings { throttle = { reads = { 2, 0.1 } } }
    local actor = "0000000c-0000-4000-8000-0000000actor"
    local token = em:admin("POST", "token", { oid = actor, lifetime = 3600 }).access_token
    assert.are.same({ 200, 200, 429 }, column(burst(em, "GET", registry(em, SUB_A) .. "/tokens", 3), "status"))
    local s, h = em:arm("GET", registry(em, SUB_B) .. "/tokens")
    assert.are.equal(200, s)
    assert.are.equal("1", h[REMAINING .. "reads"])
    local s2, _, _, j = em:arm("GET", registry(em, SUB_A:upper()) .. "/tokens", { token = token })
    assert.are.equal(429, s2)
    assert.matches("subscription '" .. SUB_A:upper():gsub("%-", "%%-") .. "' actor '" .. actor:gsub("%-", "%%-")
      .. "'", j.error.message)
  end)

  it("never throttles /__admin or the token endpoints, nor charges them", function()
    em:settings { throttle = { reads = { 1, 0.1 }, writes = { 1, 0.1 } } }
    local reg = registry(em)
    assert.are.same({ 200, 429 }, column(burst(em, "GET", reg .. "/scopeMaps", 2), "status"))
    for _ = 1, 5 do
      for _, path in ipairs { "ping", "settings", "stats", "log" } do
        local _, st = em:admin("GET", path)
        assert.are.equal(200, st)
      end
      local _, st = em:admin("POST", "token", {})
      assert.are.equal(200, st)
      local s, h = helpers.http("POST", em.url .. "/thr-tenant/oauth2/v2.0/token", { form = {
        grant_type = "client_credentials", client_id = em.client_id, client_secret = em.client_secret,
        scope = "https://management.azure.com/.default" } })
      assert.are.equal(200, s)
      assert.is_nil(h[REMAINING .. "writes"])
      s, h = em:request("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01&resource="
        .. "https%3A%2F%2Fmanagement.azure.com%2F", { headers = { Metadata = "true" } })
      assert.are.equal(200, s)
      assert.is_nil(h[REMAINING .. "reads"])
      s = em:request("GET", "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.azure.com",
        { headers = { ["X-IDENTITY-HEADER"] = "emulator-identity-header" } })
      assert.are.equal(200, s)
    end
    -- the one write token is still there, and reads are still out
    local s, h = em:arm("PUT", reg .. "/scopeMaps/adm-map", { body = MAP })
    assert.are.equal(200, s)
    assert.are.equal("0", h[REMAINING .. "writes"])
    assert.are.equal(429, (em:arm("GET", reg .. "/scopeMaps")))
    assert.are.equal(2, throttled_in_log(em))
  end)

  it("does not charge refused tokens or faults, which carry no remaining header", function()
    em:settings { throttle = { reads = { 2, 0.1 } } }
    local reg = registry(em)
    for _ = 1, 3 do
      local s, h = em:arm("GET", reg .. "/scopeMaps", { token = false })
      assert.are.equal(401, s)
      assert.is_nil(h[REMAINING .. "reads"])
    end
    em:settings { fail_rate = 1, seed = 3 }
    for _ = 1, 3 do
      local s, h = em:arm("GET", reg .. "/scopeMaps")
      assert.is_true(s == nil or s >= 429)
      if s then assert.is_nil(h[REMAINING .. "reads"]) end
    end
    em:settings { fail_rate = 0 }
    local s, h = em:arm("GET", reg .. "/scopeMaps")
    assert.are.equal(200, s)
    assert.are.equal("1", h[REMAINING .. "reads"])
    assert.are.equal(0, throttled_in_log(em))
  end)

  it("refills on reset and on new bucket sizes, not on other settings", function()
    em:settings { throttle = { reads = { 2, 0.1 } } }
    local path = registry(em) .. "/scopeMaps"
    assert.are.same({ 200, 200, 429 }, column(burst(em, "GET", path, 3), "status"))
    em:reset()
    assert.are.same({ "1", "0", "0" }, column(burst(em, "GET", path, 3), "reads"))
    em:settings { throttle = "reads=3/0.1" }
    local _, h = em:arm("GET", path)
    assert.are.equal("2", h[REMAINING .. "reads"])
    em:settings { page_size = 50 }
    _, h = em:arm("GET", path)
    assert.are.equal("1", h[REMAINING .. "reads"])
  end)

  it("uses ARM's buckets for throttle = true", function()
    local after = em:settings { throttle = true }
    assert.are.same(ARM_BUCKETS, after.throttle)
    local reg = registry(em)
    local _, h = em:arm("GET", reg .. "/scopeMaps")
    assert.are.equal("249", h[REMAINING .. "reads"])
    _, h = em:arm("PUT", reg .. "/scopeMaps/arm-map", { body = MAP })
    assert.are.equal("199", h[REMAINING .. "writes"])
    _, h = em:arm("DELETE", reg .. "/scopeMaps/arm-map")
    assert.are.equal("199", h[REMAINING .. "deletes"])
  end)

  it("takes the setting as true, false, a KIND=BUCKET/REFILL string or an object, and rejects the rest", function()
    assert.are.same({ reads = { 250, 25 }, writes = { 7, 0.5 }, deletes = { 200, 10 } },
      em:settings { throttle = "writes=7/0.5" }.throttle)
    assert.are.same({ reads = { 5, 1 }, writes = { 200, 10 }, deletes = { 3, 2 } },
      em:settings { throttle = { reads = { 5, 1 }, deletes = { 3, 2 } } }.throttle)
    assert.are.same(ARM_BUCKETS, em:settings { throttle = {} }.throttle)
    for _, bad in ipairs {
      { throttle = { reads = { 0, 1 } } }, { throttle = { reads = { 5, 0 } } }, { throttle = { reads = { 5.5, 1 } } },
      { throttle = { reads = { 5 } } }, { throttle = { reads = "5/1" } }, { throttle = { reading = { 5, 1 } } },
      { throttle = { reads = { 5, -1 } } }, { throttle = "reads=5" }, { throttle = "reads=5/1,reads=6/1" },
      { throttle = "" }, { throttle = 3 }, { throttle = { 5, 1 } }, { throttle = "reads=5/1", polls = -1 },
    } do
      local r, st = em:settings(bad)
      assert.are.equal(400, st, helpers.json_encode(bad))
      assert.matches(bad.polls and "'polls'" or "'throttle'", r.error.message)
    end
    -- all-or-nothing: the last good value stands
    assert.are.same(ARM_BUCKETS, em:settings().throttle)
    assert.is_false(em:settings { throttle = false }.throttle)
  end)
end)

describe("acr-emulator --throttle #emulator", function()
  local dirs = {}

  lazy_teardown(function()
    for _, d in ipairs(dirs) do
      helpers.sh(q(BIN) .. " stop --dir " .. q(d))
      helpers.rmdir(d)
    end
  end)

  local function dir()
    local d = helpers.tmpdir("acr-spec-throttle")
    dirs[#dirs + 1] = d
    return d
  end

  it("starts with the buckets of a SPEC", function()
    local em = helpers.start_emulator { throttle = "reads=3/0.2,deletes=4/1", polls = 0,
      registries = REGISTRIES }
    finally(function() em:stop() end)
    assert.are.same({ reads = { 3, 0.2 }, writes = { 200, 10 }, deletes = { 4, 1 } }, em:settings().throttle)
    local answers = burst(em, "GET", registry(em) .. "/scopeMaps", 4)
    assert.are.same({ 200, 200, 200, 429 }, column(answers, "status"))
    assert.are.same({ "2", "1", "0", "0" }, column(answers, "reads"))
    local wait = tonumber(answers[4].retry_after)   -- a token takes 5 s at 0.2/s
    assert.is_true(wait == 5 or wait == 4, answers[4].retry_after)
  end)

  it("uses ARM's buckets when given alone, even before another flag, and 'off' turns it off", function()
    local d = dir()
    local ok, out = helpers.sh(q(BIN) .. " start --dir " .. q(d) .. " --throttle --polls 0 2>&1")
    assert(ok, out)
    local url = out:match("^(%S+)")
    local _, _, body = helpers.http("GET", url .. "/__admin/settings")
    local s = helpers.json_decode(body)
    assert.are.same(ARM_BUCKETS, s.throttle)
    assert.are.equal(0, s.polls)
    assert(helpers.sh(q(BIN) .. " stop --dir " .. q(d)))
    ok, out = helpers.sh(q(BIN) .. " start --dir " .. q(d) .. " --throttle off 2>&1")
    assert(ok, out)
    _, _, body = helpers.http("GET", out:match("^(%S+)") .. "/__admin/settings")
    assert.is_false(helpers.json_decode(body).throttle)
  end)

  it("refuses a bad SPEC before nginx starts, and --help explains it", function()
    for _, bad in ipairs {
      { "reads=0/1", "bucket of 'reads' must be at least 1" },
      { "writes=5/0", "refill of 'writes' must be above 0" },
      { "reads=5", "KIND=BUCKET/REFILL" }, { "reading=5/1", "KIND=BUCKET/REFILL" },
      { "reads=5/1,", "KIND=BUCKET/REFILL" }, { "reads=-5/1", "KIND=BUCKET/REFILL" },
      { "reads=5/1,reads=6/1", "names 'reads' twice" },
    } do
      local d = dir()
      local ok, err = helpers.sh(q(BIN) .. " start --dir " .. q(d) .. " --throttle " .. q(bad[1]))
      assert.is_false(ok, bad[1])
      assert.matches(bad[2], err, 1, true)
      assert.is_nil(helpers.read_file(d .. "/nginx.pid"))
    end
    local ok, help = helpers.sh(q(BIN) .. " --help")
    assert.is_true(ok)
    assert.matches("--throttle [SPEC]", help, 1, true)
    assert.matches("reads=250/25", help, 1, true)
  end)
end)
