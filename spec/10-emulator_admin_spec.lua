-- acr-emulator: the /__admin endpoint (settings, reset, stats, log, fail-next,
-- token) and seeded fault injection.
package.path = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/?.lua;" .. package.path
local helpers = require "helpers"
local q = helpers.quote

describe("acr-emulator admin #emulator", function()
  local em, REG

  local function sm(name) return REG .. "/scopeMaps/" .. name end
  local function tok(name) return REG .. "/tokens/" .. name end
  local MAP = { properties = { actions = { "repositories/adm/content/read" } } }

  setup(function()
    em = helpers.start_emulator { retry_after = 0, polls = 2, page_size = 7,
      registries = { "sub-adm/rg-adm/admregistry" } }
    REG = em:registry_path("sub-adm", "rg-adm", "admregistry")
  end)

  lazy_teardown(function()
    if em then em:stop() end
  end)

  before_each(function()
    em:settings { fail_rate = 0, lro_style = "realistic", polls = 2, latency_ms = 0 }
    em:reset()
  end)

  describe("settings", function()
    it("reports the start flags and changes at run time", function()
      local s = em:settings()
      assert.are.same({ polls = 2, retry_after = 0, lro_style = "realistic", page_size = 7, latency_ms = 0,
        token_latency_ms = 0,
        token_lifetime = 3600, fail_rate = 0, seed = 1, seed_data = 0, throttle = false }, s)
      local after, st = em:settings { page_size = 3, lro_style = "location" }
      assert.are.equal(200, st)
      assert.are.equal(3, after.page_size)
      assert.are.equal("location", after.lro_style)
      assert.are.equal(202, (em:arm("PUT", sm("loc-map"), { body = MAP })))
    end)

    it("rejects bad settings all-or-nothing", function()
      for _, bad in ipairs {
        { polls = -1 }, { polls = 1.5 }, { lro_style = "sometimes" }, { page_size = 0 },
        { fail_rate = 2 }, { retry_after = "1" }, { colour = "blue" }, { polls = 3, page_size = 0 },
      } do
        local r, st = em:settings(bad)
        assert.are.equal(400, st)
        assert.is_string(r.error.message)
      end
      assert.are.equal(2, em:settings().polls)
      local _, st = em:admin("POST", "settings", nil)
      assert.are.equal(400, st)
    end)

    it("keeps settings across reset", function()
      em:settings { page_size = 4 }
      em:reset()
      assert.are.equal(4, em:settings().page_size)
      em:settings { page_size = 7 }
    end)
  end)

  it("reset forgets registries, operations and counters", function()
    assert.are.equal(200, (em:arm("PUT", sm("reset-map"), { body = MAP })))
    local _, h = em:arm("PUT", tok("reset-tok"), { body = { properties = { scopeMapId = sm("reset-map") } } })
    assert.are.equal(2, em:stats().total)
    em:reset()
    assert.are.same({ requests = {}, connections = 0, total = 0 }, em:stats())
    assert.are.same({}, em:log())
    assert.are.equal(404, (em:arm("GET", sm("reset-map"))))
    assert.are.equal(404, (em:arm("GET", h["azure-asyncoperation"])))
    -- tokens issued before the reset still work
    assert.are.equal(200, (em:arm("GET", REG .. "/tokens")))
  end)

  describe("registries", function()
    local NEW = { subscription = "sub-adm", resource_group = "rg-adm", name = "newregistry" }
    local function new_path() return em:registry_path("sub-adm", "rg-adm", "newregistry") end

    local function names()
      local out = {}
      for i, r in ipairs(em:admin("GET", "registries")) do
        out[i] = r.subscription .. "/" .. r.resource_group .. "/" .. r.name .. (r.seeded and " seeded" or "")
      end
      return out
    end

    it("lists the seeded ones, with their contents", function()
      assert.are.same({ "00000000-0000-0000-0000-000000000001/rg-emulator/emuregistry seeded",
        "sub-adm/rg-adm/admregistry seeded" }, names())
      assert.are.equal(200, (em:arm("PUT", sm("count-map"), { body = MAP })))
      local list = em:admin("GET", "registries")
      assert.are.equal(4, list[2].scope_maps)   -- the three system maps and count-map
      assert.are.equal(0, list[2].tokens)
      assert.are.equal(REG, list[2].id)
    end)

    it("creates one (201, then 200 and unchanged) that ARM then serves", function()
      assert.are.equal(404, (em:arm("GET", new_path() .. "/scopeMaps")))
      local r, status = em:admin("POST", "registries", NEW)
      assert.are.equal(201, status)
      assert.are.same({ subscription = "sub-adm", resource_group = "rg-adm", name = "newregistry", seeded = false,
        id = new_path(), scope_maps = 3, tokens = 0 }, r)
      assert.are.equal(200, (em:arm("PUT", new_path() .. "/scopeMaps/new-map", { body = MAP })))
      local again, status2 = em:admin("POST", "registries",
        { subscription = "SUB-ADM", resource_group = "RG-ADM", name = "NewRegistry" })
      assert.are.equal(200, status2)
      assert.are.equal("newregistry", again.name)   -- the first spelling is kept
      assert.are.equal(4, again.scope_maps)
    end)

    it("deletes one, seeded or not; reset drops created ones and brings seeded ones back empty", function()
      assert.are.equal(201, select(2, em:admin("POST", "registries", NEW)))
      assert.are.equal(200, (em:arm("PUT", sm("gone-map"), { body = MAP })))
      local r, status = em:admin("DELETE", "registries", { subscription = "sub-adm", resource_group = "rg-adm",
        name = "admregistry" })
      assert.are.equal(200, status)
      assert.are.equal(4, r.scope_maps)
      local s, _, _, j = em:arm("GET", REG .. "/scopeMaps")
      assert.are.equal(404, s)
      assert.are.equal("ResourceNotFound", j.error.code)
      assert.are.equal(404, select(2, em:admin("DELETE", "registries", { subscription = "sub-adm",
        resource_group = "rg-adm", name = "admregistry" })))
      em:reset()
      assert.are.same({ "00000000-0000-0000-0000-000000000001/rg-emulator/emuregistry seeded",
        "sub-adm/rg-adm/admregistry seeded" }, names())
      assert.are.equal(404, (em:arm("GET", sm("gone-map"))))
      assert.are.equal(200, (em:arm("GET", sm("_repositories_pull"))))
      assert.are.equal(404, (em:arm("GET", new_path() .. "/tokens")))
    end)

    it("fills a created registry with --seed-data's current value", function()
      em:settings { seed_data = 2 }
      finally(function() em:settings { seed_data = 0 } end)
      assert.are.equal(5, em:admin("POST", "registries", NEW).scope_maps)
      local _, _, _, j = em:arm("GET", new_path() .. "/tokens")
      assert.are.equal(2, #j.value)
    end)

    it("refuses malformed bodies and names with 400, changing nothing", function()
      for _, body in ipairs {
        { resource_group = "rg", name = "abcde" }, { subscription = "s", name = "abcde" },
        { subscription = "s", resource_group = "rg" }, { subscription = "s", resource_group = "rg", name = "abcd" },
        { subscription = "s", resource_group = "rg", name = "bad-name" },
        { subscription = "s", resource_group = "rg", name = string.rep("r", 51) },
        { subscription = "s/x", resource_group = "rg", name = "abcde" },
        { subscription = "s", resource_group = "r g", name = "abcde" },
        { subscription = "", resource_group = "rg", name = "abcde" },
        { subscription = 5, resource_group = "rg", name = "abcde" },
      } do
        local j, status = em:admin("POST", "registries", body)
        assert.are.equal(400, status)
        assert.are.equal("BadRequest", j.error.code)
        assert.are.equal(400, select(2, em:admin("DELETE", "registries", body)))
      end
      assert.are.equal(2, #em:admin("GET", "registries"))
      assert.are.equal(405, select(2, em:admin("PUT", "registries", NEW)))
    end)
  end)

  it("counts requests by kind and connections, not admin calls", function()
    em:arm("PUT", sm("stat-map"), { body = MAP })
    local _, h = em:arm("PUT", tok("stat-tok"), { body = { properties = { scopeMapId = sm("stat-map") } } })
    em:arm("GET", h["azure-asyncoperation"])
    em:arm("GET", tok("stat-tok"))
    em:arm("GET", REG .. "/tokens")
    em:arm("POST", REG .. "/generateCredentials", { body = { tokenId = tok("stat-tok") } })
    local _, dh = em:arm("DELETE", tok("stat-tok"))
    em:arm("GET", dh["location"])
    helpers.http("POST", em.url .. "/tenant/oauth2/v2.0/token", { form = { grant_type = "client_credentials",
      client_id = em.client_id, client_secret = em.client_secret, scope = "https://management.azure.com/.default" } })
    em:settings {}
    local st = em:stats()
    assert.are.same({
      ["PUT scopeMap"] = 1, ["PUT token"] = 1, ["GET operationStatus"] = 1, ["GET token"] = 1,
      ["GET tokens"] = 1, ["POST generateCredentials"] = 1, ["DELETE token"] = 1,
      ["GET operationResult"] = 1, ["POST oauth2"] = 1,
    }, st.requests)
    assert.are.equal(9, st.total)
    assert.are.equal(9, st.connections) -- one curl process, one connection, per request
  end)

  it("counts one connection for keep-alive reuse", function()
    local auth = "Authorization: Bearer " .. em:token()
    local url = em.url .. REG .. "/scopeMaps?api-version=" .. helpers.API_VERSION
    local ok, out = helpers.sh(("curl -sS -o /dev/null -o /dev/null -o /dev/null -H %s %s %s %s")
      :format(q(auth), q(url), q(url), q(url)))
    assert(ok, out)
    local st = em:stats()
    assert.are.equal(3, st.total)
    assert.are.equal(1, st.connections)
    local log = em:log()
    assert.are.equal(log[1].connection, log[3].connection)
  end)

  it("logs requests in order, showing interleaved polls", function()
    em:arm("PUT", sm("log-map"), { body = MAP })
    local _, a = em:arm("PUT", tok("log-tok-a"), { body = { properties = { scopeMapId = sm("log-map") } } })
    local _, b = em:arm("PUT", tok("log-tok-b"), { body = { properties = { scopeMapId = sm("log-map") } } })
    for _ = 1, 3 do
      em:arm("GET", a["azure-asyncoperation"])
      em:arm("GET", b["azure-asyncoperation"])
    end
    local log = em:log()
    assert.are.equal(9, #log)
    for i, e in ipairs(log) do
      assert.are.equal(i, e.seq)
      assert.is_number(e.time)
      assert.is_number(e.connection)
      assert.is_string(e.method)
    end
    assert.are.equal("PUT scopeMap", log[1].kind)
    assert.are.equal(200, log[1].status)
    assert.are.equal(201, log[2].status)
    local polls = {}
    for i = 4, 9 do polls[#polls + 1] = log[i].path:match("/tokens/([^/]+)/") end
    assert.are.same({ "log-tok-a", "log-tok-b", "log-tok-a", "log-tok-b", "log-tok-a", "log-tok-b" }, polls)
    assert.matches("^api%-version=", log[4].query)
    assert.is_nil(helpers.json_encode(log):find("Bearer", 1, true))
  end)

  it("turns a Lua error in a handler into ARM's 500, logged, with state untouched", function()
    local _, st = em:fail_next { name = "crash-map", raise = true }
    assert.are.equal(200, st)
    local s, h, _, j = em:arm("PUT", sm("crash-map"), { body = MAP })
    assert.are.equal(500, s)
    assert.are.equal("InternalServerError", j.error.code)
    assert.are.equal("application/json; charset=utf-8", h["content-type"])
    assert.matches("injected handler error for 'crash%-map'", helpers.read_file(em.dir .. "/logs/error.log"))
    assert.are.equal(404, (em:arm("GET", sm("crash-map"))))
    assert.are.equal(200, (em:arm("PUT", sm("crash-map"), { body = MAP }))) -- and it keeps serving
  end)

  it("validates fail-next and rejects unknown admin calls", function()
    local _, st = em:fail_next {}
    assert.are.equal(400, st)
    _, st = em:fail_next { name = "x", status = 200 }
    assert.are.equal(400, st)
    _, st = em:admin("GET", "nothing-here")
    assert.are.equal(404, st)
    _, st = em:admin("DELETE", "reset")
    assert.are.equal(405, st)
  end)

  it("issues tokens with a chosen lifetime", function()
    local r, st = em:admin("POST", "token", { lifetime = 120 })
    assert.are.equal(200, st)
    assert.is_true(r.expires_on - os.time() <= 121)
    assert.is_true(r.expires_on - os.time() >= 110)
    _, st = em:admin("POST", "token", { lifetime = "long" })
    assert.are.equal(400, st)
  end)

  it("lists the tokens it issued since reset, oldest first", function()
    em:reset()
    local a, b = em:token(), em:token(60)
    local st, _, body = em:request("POST", "/00000000-0000-0000-0000-0000000000e1/oauth2/v2.0/token", {
      form = { grant_type = "client_credentials", client_id = em.client_id,
               client_secret = em.client_secret, scope = "https://management.azure.com/.default" } })
    assert.are.equal(200, st)
    local c = helpers.json_decode(body).access_token
    local issued, s2 = em:admin("GET", "issued")
    assert.are.equal(200, s2)
    assert.are.same({ a, b, c }, issued)
    em:reset()
    assert.are.same({}, (em:admin("GET", "issued")))
  end)

  it("sleeps --latency-ms before ARM answers", function()
    em:settings { latency_ms = 300 }
    local auth = "Authorization: Bearer " .. em:token()
    local ok, out = helpers.sh(("curl -sS -o /dev/null -w '%%{time_total}' -H %s %s")
      :format(q(auth), q(em.url .. REG .. "/tokens?api-version=" .. helpers.API_VERSION)))
    assert(ok, out)
    assert.is_true(tonumber(out) >= 0.29, out)
  end)

  describe("faults", function()
    local function sequence(count)
      local seen = {}
      for i = 1, count do
        local s, h, _, j = em:arm("GET", REG .. "/scopeMaps")
        seen[i] = s or "drop"
        if s == 429 or s == 503 then
          assert.are.equal("0", h["retry-after"])
        end
        if s and s >= 429 then
          assert.is_string(j.error.code)
        end
      end
      return seen
    end

    it("are deterministic for a seed and start over on reset", function()
      em:settings { fail_rate = 0.5, seed = 7 }
      local first = sequence(24)
      em:reset()
      local second = sequence(24)
      assert.are.same(first, second)
      local kinds = {}
      for _, s in ipairs(first) do kinds[s] = true end
      assert.is_true(kinds[200])
      local faults = 0
      for _, k in ipairs { 429, 500, 503, "drop" } do if kinds[k] then faults = faults + 1 end end
      assert.is_true(faults >= 3, helpers.json_encode(first))
      em:settings { seed = 8 }
      assert.are_not.same(first, sequence(24))
    end)

    it("leave state unchanged and spare admin and token endpoints", function()
      em:settings { fail_rate = 1, seed = 3 }
      for i = 1, 4 do
        local s = em:arm("PUT", sm("fault-map-" .. i), { body = MAP })
        assert.is_true(s == nil or s >= 429)
      end
      local s = helpers.http("POST", em.url .. "/tenant/oauth2/v2.0/token", { form = { grant_type = "client_credentials",
        client_id = em.client_id, client_secret = em.client_secret, scope = "https://management.azure.com/.default" } })
      assert.are.equal(200, s)
      em:settings { fail_rate = 0 }
      for i = 1, 4 do
        assert.are.equal(404, (em:arm("GET", sm("fault-map-" .. i))))
      end
    end)

    it("drop the connection without an answer", function()
      em:settings { fail_rate = 1 }
      local dropped
      for seed = 1, 40 do
        em:settings { seed = seed }
        local s, err = em:arm("GET", REG .. "/tokens")
        if s == nil then
          dropped = err
          break
        end
      end
      assert.matches("Empty reply", dropped)
    end)
  end)
end)
