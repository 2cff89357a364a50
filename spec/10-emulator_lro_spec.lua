-- acr-emulator: each forced LRO style (async, location, body) with polls 0 and 2,
-- and operations that end Failed (admin fail-next).
package.path = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/?.lua;" .. package.path
local helpers = require "helpers"

describe("acr-emulator LRO styles #emulator", function()
  local em, REG, n = nil, nil, 0

  local function fresh(prefix)
    n = n + 1
    return string.format("%s-%03d", prefix, n)
  end
  local function sm(name) return REG .. "/scopeMaps/" .. name end
  local function tok(name) return REG .. "/tokens/" .. name end
  local MAP_BODY = { properties = { actions = { "repositories/lro/content/read" } } }

  local function style(s, polls)
    em:settings { lro_style = s, polls = polls }
  end

  -- a scope map and token made synchronously, whatever the style under test
  local function make_token(name)
    style("body", 0)
    local map = fresh("map")
    assert.are.equal(201, (em:arm("PUT", sm(map), { body = MAP_BODY })))
    assert.are.equal(201, (em:arm("PUT", tok(name), { body = { properties = { scopeMapId = sm(map) } } })))
    return map
  end

  setup(function()
    em = helpers.start_emulator { retry_after = 0, registries = { "sub-lro/rg-lro/lroregistry" } }
    REG = em:registry_path("sub-lro", "rg-lro", "lroregistry")
  end)

  lazy_teardown(function()
    if em then em:stop() end
  end)

  for _, polls in ipairs { 0, 2 } do
    describe("async, polls " .. polls, function()
      local function poll_status(url)
        local seen = {}
        for _ = 1, polls + 1 do
          local s, h, _, j = em:arm("GET", url)
          assert.are.equal(200, s)
          assert.are.equal(url, h["azure-asyncoperation"])
          assert.are.equal("0", h["retry-after"])
          seen[#seen + 1] = j.status
        end
        return seen
      end
      local function expected()
        local e = {}
        for i = 1, polls do e[i] = "InProgress" end
        e[#e + 1] = "Succeeded"
        return e
      end

      it("PUT scope map -> 201 + Azure-AsyncOperation, then Succeeded", function()
        style("async", polls)
        local name = fresh("amap")
        local s, h, _, j = em:arm("PUT", sm(name), { body = MAP_BODY })
        assert.are.equal(201, s)
        assert.is_nil(h["location"])
        assert.are.equal("Creating", j.properties.provisioningState)
        assert.are.same(expected(), poll_status(h["azure-asyncoperation"]))
        assert.are.equal("Succeeded", select(4, em:arm("GET", sm(name))).properties.provisioningState)
      end)

      it("PATCH token -> 201 Updating, then Succeeded", function()
        local name = fresh("atok")
        make_token(name)
        style("async", polls)
        local s, h, _, j = em:arm("PATCH", tok(name), { body = { properties = { status = "disabled" } } })
        assert.are.equal(201, s)
        assert.are.equal("Updating", j.properties.provisioningState)
        local states = poll_status(h["azure-asyncoperation"])
        assert.are.same(expected(), states)
        local _, _, _, got = em:arm("GET", tok(name))
        assert.are.equal("Succeeded", got.properties.provisioningState)
        assert.are.equal("disabled", got.properties.status)
      end)

      it("DELETE -> 202 + Azure-AsyncOperation; the resource is gone when it ends", function()
        local name = fresh("dtok")
        make_token(name)
        style("async", polls)
        local s, h, text = em:arm("DELETE", tok(name))
        assert.are.equal(202, s)
        assert.are.equal("", text)
        assert.is_nil(h["location"])
        local _, _, _, during = em:arm("GET", tok(name))
        assert.are.equal("Deleting", during.properties.provisioningState)
        assert.are.same(expected(), poll_status(h["azure-asyncoperation"]))
        assert.are.equal(404, (em:arm("GET", tok(name))))
      end)

      it("POST generateCredentials -> 202 + both headers; Location gives the result", function()
        local name = fresh("ctok")
        make_token(name)
        style("async", polls)
        local s, h = em:arm("POST", REG .. "/generateCredentials", { body = { tokenId = tok(name) } })
        assert.are.equal(202, s)
        assert.matches("/registries/lroregistry/operationStatuses/token%-", h["azure-asyncoperation"])
        assert.matches("/locations/EASTUS/operationResults/token%-", h["location"])
        assert.are.same(expected(), poll_status(h["azure-asyncoperation"]))
        local s2, _, _, j = em:arm("GET", h["location"])
        assert.are.equal(200, s2)
        assert.are.equal(name, j.username)
        assert.are.equal(2, #j.passwords)
        local _, _, _, t = em:arm("GET", tok(name))
        assert.are.equal(2, #t.properties.credentials.passwords)
      end)
    end)

    describe("location, polls " .. polls, function()
      local function poll_location(url)
        for i = 1, polls do
          local s, h, text = em:arm("GET", url)
          assert.are.equal(202, s, "poll " .. i)
          assert.are.equal(url, h["location"])
          assert.are.equal("", text)
        end
        return em:arm("GET", url)
      end

      it("PUT token -> 202 + Location; last poll is 200 with the resource", function()
        style("body", 0)
        local map = fresh("lmap")
        em:arm("PUT", sm(map), { body = MAP_BODY })
        style("location", polls)
        local name = fresh("ltok")
        local s, h = em:arm("PUT", tok(name), { body = { properties = { scopeMapId = sm(map) } } })
        assert.are.equal(202, s)
        assert.is_nil(h["azure-asyncoperation"])
        assert.are.equal("0", h["retry-after"])
        local s2, _, _, j = poll_location(h["location"])
        assert.are.equal(200, s2)
        assert.are.equal(name, j.name)
        assert.are.equal("Succeeded", j.properties.provisioningState)
      end)

      it("DELETE -> 202 + Location; 200 empty, then 404", function()
        local name = fresh("ldel")
        make_token(name)
        style("location", polls)
        local s, h = em:arm("DELETE", tok(name))
        assert.are.equal(202, s)
        local s2, _, text = poll_location(h["location"])
        assert.are.equal(200, s2)
        assert.are.equal("", text)
        assert.are.equal(404, (em:arm("GET", tok(name))))
      end)

      it("POST generateCredentials -> 202 + Location; 200 with passwords", function()
        local name = fresh("lcred")
        make_token(name)
        style("location", polls)
        local s, h = em:arm("POST", REG .. "/generateCredentials", { body = { tokenId = tok(name), name = "password1" } })
        assert.are.equal(202, s)
        local s2, _, _, j = poll_location(h["location"])
        assert.are.equal(200, s2)
        assert.are.equal(1, #j.passwords)
        assert.are.equal("password1", j.passwords[1].name)
      end)
    end)

    describe("body, polls " .. polls, function()
      it("PUT -> 201 Creating without headers; GETs show it until Succeeded", function()
        style("body", polls)
        local name = fresh("bmap")
        local s, h, _, j = em:arm("PUT", sm(name), { body = MAP_BODY })
        assert.are.equal(201, s)
        assert.is_nil(h["azure-asyncoperation"])
        assert.is_nil(h["location"])
        assert.are.equal("Creating", j.properties.provisioningState)
        -- listing is not polling
        for _, v in ipairs(select(4, em:arm("GET", REG .. "/scopeMaps")).value) do
          if v.name == name then assert.are.equal("Creating", v.properties.provisioningState) end
        end
        for i = 1, polls do
          assert.are.equal("Creating", select(4, em:arm("GET", sm(name))).properties.provisioningState, "GET " .. i)
        end
        assert.are.equal("Succeeded", select(4, em:arm("GET", sm(name))).properties.provisioningState)
      end)

      it("PATCH -> 201 Updating; DELETE and POST stay synchronous", function()
        local name = fresh("btok")
        make_token(name)
        style("body", polls)
        local s, _, _, j = em:arm("PATCH", tok(name), { body = { properties = { status = "disabled" } } })
        assert.are.equal(201, s)
        assert.are.equal("Updating", j.properties.provisioningState)
        for _ = 1, polls do
          assert.are.equal("Updating", select(4, em:arm("GET", tok(name))).properties.provisioningState)
        end
        assert.are.equal("Succeeded", select(4, em:arm("GET", tok(name))).properties.provisioningState)
        local s2, _, _, c = em:arm("POST", REG .. "/generateCredentials", { body = { tokenId = tok(name) } })
        assert.are.equal(200, s2)
        assert.are.equal(2, #c.passwords)
        local s3, h3, text = em:arm("DELETE", tok(name))
        assert.are.equal(200, s3)
        assert.are.equal("", text)
        assert.is_nil(h3["location"])
        assert.are.equal(404, (em:arm("GET", tok(name))))
      end)
    end)
  end

  it("lets the newest operation on a resource decide its provisioning state", function()
    style("async", 3)
    local name = fresh("omap")
    local _, h = em:arm("PUT", sm(name), { body = MAP_BODY })
    local old = h["azure-asyncoperation"]
    style("realistic", 3)
    local s, _, _, j = em:arm("PUT", sm(name), { body = MAP_BODY })
    assert.are.equal(200, s)
    assert.are.equal("Succeeded", j.properties.provisioningState)
    assert.are.equal("Succeeded", select(4, em:arm("GET", sm(name))).properties.provisioningState)
    for _ = 1, 4 do em:arm("GET", old) end
    assert.are.equal("Succeeded", select(4, em:arm("GET", old)).status)
    assert.are.equal("Succeeded", select(4, em:arm("GET", sm(name))).properties.provisioningState)
  end)

  describe("failed operations", function()
    it("async: the status resource says Failed with the configured error", function()
      local name = fresh("ftok")
      make_token(name)
      style("async", 1)
      local _, st = em:fail_next { name = name, code = "TokenUpdateFailed", message = "nope" }
      assert.are.equal(200, st)
      local s, h = em:arm("PATCH", tok(name), { body = { properties = { status = "disabled" } } })
      assert.are.equal(201, s)
      assert.are.equal("InProgress", select(4, em:arm("GET", h["azure-asyncoperation"])).status)
      local _, _, _, j = em:arm("GET", h["azure-asyncoperation"])
      assert.are.same({ status = "Failed", error = { code = "TokenUpdateFailed", message = "nope" } }, j)
      assert.are.equal("Failed", select(4, em:arm("GET", tok(name))).properties.provisioningState)
      -- fail-next is used up: the next operation succeeds
      s, h = em:arm("PATCH", tok(name), { body = { properties = { status = "enabled" } } })
      assert.are.equal(201, s)
      em:arm("GET", h["azure-asyncoperation"])
      assert.are.equal("Succeeded", select(4, em:arm("GET", h["azure-asyncoperation"])).status)
    end)

    it("location: the last poll is an ARM error with the configured status", function()
      local name = fresh("fdel")
      make_token(name)
      style("location", 0)
      em:fail_next { name = name, code = "DeleteFailed", message = "cannot delete", status = 409 }
      local s, h = em:arm("DELETE", tok(name))
      assert.are.equal(202, s)
      local s2, _, _, j = em:arm("GET", h["location"])
      assert.are.equal(409, s2)
      assert.are.same({ code = "DeleteFailed", message = "cannot delete" }, j.error)
      assert.are.equal(200, (em:arm("GET", tok(name)))) -- still there
    end)

    it("body: provisioningState ends Failed", function()
      style("body", 1)
      local name = fresh("fmap")
      em:fail_next { name = name }
      assert.are.equal(201, (em:arm("PUT", sm(name), { body = MAP_BODY })))
      assert.are.equal("Creating", select(4, em:arm("GET", sm(name))).properties.provisioningState)
      assert.are.equal("Failed", select(4, em:arm("GET", sm(name))).properties.provisioningState)
    end)

    it("synchronous calls fail at once and change nothing", function()
      style("realistic", 1)
      local name = fresh("smap")
      em:fail_next { name = name, code = "InternalError", message = "boom" }
      local s, _, _, j = em:arm("PUT", sm(name), { body = MAP_BODY })
      assert.are.equal(400, s)
      assert.are.same({ code = "InternalError", message = "boom" }, j.error)
      assert.are.equal(404, (em:arm("GET", sm(name))))
    end)
  end)
end)
