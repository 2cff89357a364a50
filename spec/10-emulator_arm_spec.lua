-- acr-emulator, ARM side in the realistic style: what the recordings show, over real HTTP.
package.path = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/?.lua;" .. package.path
local helpers = require "helpers"

describe("acr-emulator ARM (realistic) #emulator", function()
  local em, REG

  local function sm_id(name) return REG .. "/scopeMaps/" .. name end
  local function tok_id(name) return REG .. "/tokens/" .. name end

  local function put_map(name, body)
    return em:arm("PUT", sm_id(name), { body = body or { properties = { actions = { "repositories/app/content/read" } } } })
  end

  local function poll_async(url, max)
    local last
    for _ = 1, max or 10 do
      local s, h, _, j = em:arm("GET", url)
      assert.are.equal(200, s)
      assert.are.equal(url, h["azure-asyncoperation"])
      last = j.status
      if last ~= "InProgress" then return last, j end
    end
    return last
  end

  setup(function()
    em = helpers.start_emulator { polls = 1, retry_after = 0,
      registries = { "sub-arm/rg-arm/armregistry", "sub-arm/rg-arm/pagedregistry" } }
    REG = em:registry_path("sub-arm", "rg-arm", "armregistry")
  end)

  lazy_teardown(function()
    if em then em:stop() end
  end)

  it("lists the three system scope maps in a registry seen for the first time", function()
    local s, h, _, j = em:arm("GET", REG .. "/scopeMaps")
    assert.are.equal(200, s)
    assert.are.equal("application/json; charset=utf-8", h["content-type"])
    assert.is_nil(j.nextLink)
    local names = {}
    for i, v in ipairs(j.value) do
      names[i] = v.name
      assert.are.equal("SystemDefined", v.properties.type)
      assert.are.equal("Microsoft.ContainerRegistry/registries/scopeMaps", v.type)
      assert.are.equal(REG .. "/scopeMaps/" .. v.name, v.id)
    end
    assert.are.same({ "_repositories_admin", "_repositories_pull", "_repositories_push" }, names)
    assert.are.same({ "repositories/*/content/read" }, j.value[2].properties.actions)
    assert.are.equal("Can pull any repository of the registry", j.value[2].properties.description)
  end)

  it("answers ARM's 404 ResourceNotFound for a registry that was not seeded, for every call under it", function()
    local other = em:registry_path("sub-arm", "rg-arm", "typoregistry")
    local map = { properties = { actions = { "repositories/app/content/read" } } }
    for _, c in ipairs {
      { "GET", "/scopeMaps" }, { "GET", "/tokens" }, { "GET", "/scopeMaps/some-map" }, { "GET", "/tokens/some-token" },
      { "PUT", "/scopeMaps/some-map", map }, { "PATCH", "/scopeMaps/some-map", map },
      { "DELETE", "/scopeMaps/some-map" }, { "DELETE", "/tokens/some-token" },
      { "PUT", "/tokens/some-token", { properties = { scopeMapId = other .. "/scopeMaps/_repositories_pull" } } },
      { "POST", "/generateCredentials", { tokenId = other .. "/tokens/some-token" } },
      { "GET", "/scopeMaps/some-map/operationStatuses/token-1" },
      { "HEAD", "/tokens" },
    } do
      local s, h, body, j = em:arm(c[1], other .. c[2], { body = c[3] })
      assert.are.equal(404, s, c[1] .. " " .. c[2])
      assert.is_string(h["x-ms-request-id"])
      if c[1] ~= "HEAD" then
        assert.are.same({ error = { code = "ResourceNotFound", message = "The Resource "
          .. "'Microsoft.ContainerRegistry/registries/typoregistry' under resource group 'rg-arm' was not found. "
          .. "For more details please go to https://aka.ms/ARMResourceNotFoundFix" } }, j, body)
      end
    end
    -- the same name in another resource group or subscription is another registry
    assert.are.equal(404, (em:arm("GET", em:registry_path("sub-arm", "rg-other", "armregistry") .. "/tokens")))
    assert.are.equal(404, (em:arm("GET", em:registry_path("sub-other", "rg-arm", "armregistry") .. "/tokens")))
    -- ids are case-insensitive: a seeded registry answers to any spelling, ids keep the seeded one
    local s, _, _, j = em:arm("GET", em:registry_path("SUB-ARM", "RG-ARM", "ArmRegistry") .. "/scopeMaps")
    assert.are.equal(200, s)
    assert.are.equal(REG .. "/scopeMaps/_repositories_admin", j.value[1].id)
    -- nothing was made by the calls above
    local names = {}
    for i, r in ipairs(em:admin("GET", "registries")) do names[i] = r.name end
    assert.are.same({ "emuregistry", "armregistry", "pagedregistry" }, names)
  end)

  it("answers with ARM's headers, echoing client ids", function()
    local s, h = em:arm("GET", sm_id("_repositories_pull"), {
      headers = { ["x-ms-client-request-id"] = "client-1", ["x-ms-correlation-request-id"] = "corr-1" } })
    assert.are.equal(200, s)
    assert.are.equal("client-1", h["x-ms-client-request-id"])
    assert.are.equal("corr-1", h["x-ms-correlation-request-id"])
    assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", h["x-ms-request-id"])
    assert.matches("^%d+$", h["x-ms-ratelimit-remaining-subscription-reads"])
    assert.are.equal("no-cache", h["cache-control"])
    assert.matches("2019%-05%-01%-preview", h["api-supported-versions"])
    local _, h2 = em:arm("GET", sm_id("_repositories_pull"))
    assert.is_nil(h2["x-ms-client-request-id"])
    assert.are.equal(h2["x-ms-request-id"], h2["x-ms-correlation-request-id"])
    assert.are_not.equal(h["x-ms-request-id"], h2["x-ms-request-id"])
  end)

  it("creates a scope map synchronously (200, Succeeded, no LRO header)", function()
    local s, h, _, j = put_map("map-sync", { properties = {
      actions = { "repositories/app/content/read", "repositories/app/content/write" }, description = "CI" } })
    assert.are.equal(200, s)
    assert.is_nil(h["azure-asyncoperation"])
    assert.is_nil(h["location"])
    assert.matches("^%d+$", h["x-ms-ratelimit-remaining-subscription-writes"])
    assert.are.equal("map-sync", j.name)
    assert.are.equal(sm_id("map-sync"), j.id)
    assert.are.equal("UserDefined", j.properties.type)
    assert.are.equal("Succeeded", j.properties.provisioningState)
    assert.are.equal("CI", j.properties.description)
    assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d+%+00:00$", j.properties.creationDate)
    local s2, _, _, j2 = em:arm("GET", sm_id("MAP-SYNC"))
    assert.are.equal(200, s2)
    assert.are.equal("map-sync", j2.name) -- names are case-insensitive, the first spelling stays
  end)

  it("walks a token through create, poll, update, credentials and delete", function()
    assert.are.equal(200, (put_map("map-walk")))
    -- PUT token -> 201 + Azure-AsyncOperation + Retry-After, Creating
    local s, h, _, j = em:arm("PUT", tok_id("tok-walk"), { body = { properties = { scopeMapId = sm_id("map-walk") } } })
    assert.are.equal(201, s)
    assert.are.equal("0", h["retry-after"])
    local aao = h["azure-asyncoperation"]
    assert.matches("^" .. em.url:gsub("%p", "%%%0") .. REG:gsub("%p", "%%%0")
      .. "/tokens/tok%-walk/operationStatuses/token%-[%x%-]+%?api%-version=2019%-05%-01%-preview$", aao)
    assert.are.equal("Creating", j.properties.provisioningState)
    assert.are.equal("enabled", j.properties.status)
    assert.are.same({}, j.properties.credentials.passwords)
    assert.are.equal(sm_id("map-walk"), j.properties.scopeMapId)
    -- while in progress the resource says Creating
    local _, _, _, during = em:arm("GET", aao)
    assert.are.equal("InProgress", during.status)
    assert.are.equal("Creating", select(4, em:arm("GET", tok_id("tok-walk"))).properties.provisioningState)
    assert.are.equal("Succeeded", poll_async(aao))
    assert.are.equal("Succeeded", select(4, em:arm("GET", tok_id("tok-walk"))).properties.provisioningState)
    -- a finished status resource keeps answering Succeeded
    assert.are.equal("Succeeded", poll_async(aao))

    -- PATCH token -> 201 Updating, values visible at once
    s, h, _, j = em:arm("PATCH", tok_id("tok-walk"), { body = { properties = { status = "disabled" } } })
    assert.are.equal(201, s)
    assert.are.equal("Updating", j.properties.provisioningState)
    assert.are.equal("disabled", j.properties.status)
    assert.are.equal("Succeeded", poll_async(h["azure-asyncoperation"]))

    -- generateCredentials -> 200 with values; the token keeps only metadata
    s, h, _, j = em:arm("POST", REG .. "/generateCredentials",
      { body = { tokenId = tok_id("tok-walk"), expiry = "2030-01-01T00:00:00Z" } })
    assert.are.equal(200, s)
    assert.is_nil(h["azure-asyncoperation"])
    assert.are.equal("tok-walk", j.username)
    assert.are.equal(2, #j.passwords)
    assert.are.equal("password1", j.passwords[1].name)
    assert.are.equal("password2", j.passwords[2].name)
    assert.are.equal("2030-01-01T00:00:00Z", j.passwords[1].expiry)
    assert.is_true(#j.passwords[1].value >= 40)
    assert.are_not.equal(j.passwords[1].value, j.passwords[2].value)
    local _, _, text, tok = em:arm("GET", tok_id("tok-walk"))
    assert.are.equal(2, #tok.properties.credentials.passwords)
    assert.is_nil(tok.properties.credentials.passwords[1].value)
    assert.is_nil(text:find(j.passwords[1].value, 1, true))
    -- only the named password is regenerated
    s, _, _, j = em:arm("POST", REG .. "/generateCredentials", { body = { tokenId = tok_id("tok-walk"), name = "password2" } })
    assert.are.equal(200, s)
    assert.are.equal(1, #j.passwords)
    assert.are.equal("password2", j.passwords[1].name)
    assert.is_nil(j.passwords[1].expiry)

    -- DELETE -> 202 + regional Location, empty body; 202 K times then 200 empty; then 404
    s, h, text = em:arm("DELETE", tok_id("tok-walk"))
    assert.are.equal(202, s)
    assert.are.equal("", text)
    assert.are.equal("0", h["content-length"])
    assert.are.equal("0", h["retry-after"])
    assert.matches("^%d+$", h["x-ms-ratelimit-remaining-subscription-deletes"])
    local loc = h["location"]
    assert.matches("/subscriptions/sub%-arm/providers/Microsoft%.ContainerRegistry/locations/EASTUS/operationResults/token%-[%x%-]+%?api%-version=2019%-05%-01%-preview$", loc)
    assert.are.equal("Deleting", select(4, em:arm("GET", tok_id("tok-walk"))).properties.provisioningState)
    s, h = em:arm("GET", loc)
    assert.are.equal(202, s)
    assert.are.equal(loc, h["location"])
    s, h, text = em:arm("GET", loc)
    assert.are.equal(200, s)
    assert.are.equal("", text)
    assert.are.equal("0", h["content-length"])
    s, _, _, j = em:arm("GET", tok_id("tok-walk"))
    assert.are.equal(404, s)
    assert.are.equal("ResourceNotFound", j.error.code)
  end)

  it("updates and deletes a scope map with the recorded LRO shapes", function()
    assert.are.equal(200, (put_map("map-upd")))
    local s, h, _, j = em:arm("PATCH", sm_id("map-upd"), { body = { properties = { description = "Description" } } })
    assert.are.equal(201, s)
    assert.are.equal("Updating", j.properties.provisioningState)
    assert.are.equal("Description", j.properties.description)
    assert.are.same({ "repositories/app/content/read" }, j.properties.actions) -- PATCH keeps what it omits
    assert.matches("/scopeMaps/map%-upd/operationStatuses/token%-", h["azure-asyncoperation"])
    assert.are.equal("Succeeded", poll_async(h["azure-asyncoperation"]))
    s, h = em:arm("DELETE", sm_id("map-upd"))
    assert.are.equal(202, s)
    assert.are.equal(202, (em:arm("GET", h["location"])))
    assert.are.equal(200, (em:arm("GET", h["location"])))
    assert.are.equal(404, (em:arm("GET", sm_id("map-upd"))))
  end)

  it("answers 204 when deleting what does not exist", function()
    local s, _, text = em:arm("DELETE", tok_id("never-there"))
    assert.are.equal(204, s)
    assert.are.equal("", text)
  end)

  it("answers 404 with the resource provider's shape", function()
    local s, h, _, j = em:arm("GET", sm_id("acr-token-scope-map"))
    assert.are.equal(404, s)
    assert.are.equal("application/json; charset=utf-8", h["content-type"])
    assert.are.same({ error = { code = "ResourceNotFound",
      message = "The resource acr-token-scope-map could not be found." }, status = "Failed" }, j)
    assert.are.equal(404, (em:arm("PATCH", tok_id("nosuchtoken"), { body = { properties = { status = "enabled" } } })))
    s, _, _, j = em:arm("POST", REG .. "/generateCredentials", { body = { tokenId = tok_id("nosuchtoken") } })
    assert.are.equal(404, s)
    assert.are.equal("ResourceNotFound", j.error.code)
  end)

  it("refuses to change or delete system scope maps", function()
    for _, call in ipairs {
      { "PUT", { properties = { actions = { "repositories/*/content/read" } } } },
      { "PATCH", { properties = { description = "mine" } } },
      { "DELETE" },
    } do
      local s, _, _, j = em:arm(call[1], sm_id("_repositories_admin"), { body = call[2] })
      assert.are.equal(400, s, call[1])
      assert.are.equal("OperationNotAllowed", j.error.code)
      assert.is_string(j.error.message)
    end
    local _, _, _, j = em:arm("GET", sm_id("_repositories_admin"))
    assert.are.equal("Succeeded", j.properties.provisioningState)
    assert.are.equal(5, #j.properties.actions)
  end)

  it("pages lists with nextLink and a skip token that survives deletions", function()
    local reg = em:registry_path("sub-arm", "rg-arm", "pagedregistry")
    em:settings { page_size = 2 }
    finally(function() em:settings { page_size = 100 } end)
    for i = 1, 5 do
      assert.are.equal(200, (em:arm("PUT", reg .. "/scopeMaps/page-map-" .. i,
        { body = { properties = { actions = { "repositories/p/content/read" } } } })))
    end
    local names, url, pages = {}, reg .. "/scopeMaps", 0
    while url do
      local s, _, _, j = em:arm("GET", url)
      assert.are.equal(200, s)
      pages = pages + 1
      assert.is_true(#j.value <= 2)
      for _, v in ipairs(j.value) do names[#names + 1] = v.name end
      if pages == 2 then
        -- deleting an item already returned must not shift the next page
        em:settings { lro_style = "body" }
        assert.are.equal(200, (em:arm("DELETE", reg .. "/scopeMaps/page-map-1")))
        em:settings { lro_style = "realistic" }
      end
      if j.nextLink then
        assert.matches("^" .. em.url:gsub("%p", "%%%0") .. "/", j.nextLink)
        assert.matches("%$skipToken=", j.nextLink)
        assert.matches("api%-version=2019%-05%-01%-preview", j.nextLink)
      end
      url = j.nextLink
    end
    assert.are.same({ "_repositories_admin", "_repositories_pull", "_repositories_push",
      "page-map-1", "page-map-2", "page-map-3", "page-map-4", "page-map-5" }, names)
    assert.are.equal(4, pages)
  end)

  it("seeds registries with --seed-data", function()
    local seeded = helpers.start_emulator { seed_data = 3, retry_after = 0, registries = { "s/r/seededreg" } }
    finally(function() seeded:stop() end)
    local reg = seeded:registry_path("s", "r", "seededreg")
    local _, _, _, maps = seeded:arm("GET", reg .. "/scopeMaps")
    local _, _, _, toks = seeded:arm("GET", reg .. "/tokens")
    assert.are.equal(6, #maps.value)
    assert.are.equal("seed-map-0001", maps.value[4].name)
    assert.are.equal(3, #toks.value)
    assert.are.equal("seed-token-0003", toks.value[3].name)
    assert.are.equal(reg .. "/scopeMaps/seed-map-0003", toks.value[3].properties.scopeMapId)
    -- the per-spec emulator has no such registry
    local status, _, _, plain = em:arm("GET", em:registry_path("s", "r", "seededreg") .. "/tokens")
    assert.are.equal(404, status)
    assert.are.equal("ResourceNotFound", plain.error.code)
  end)
end)
