-- The lists a client reads to find a registry: GET /subscriptions (the subscriptions
-- of the registries, and those given a display name) and a subscription's registries,
-- in ARM's shape, paged, behind the bearer token; /__admin/subscriptions and
-- --subscription-name.
local helpers = require "helpers"

local SUB2, SUB3 = "00000000-0000-0000-0000-000000000002", "00000000-0000-0000-0000-000000000003"
local REGS_PATH = "/providers/Microsoft.ContainerRegistry/registries"

describe("emulator: subscription and registry lists #emulator", function()
  local em
  setup(function()
    em = helpers.start_emulator{ polls = 0, retry_after = 0,
      registries = { SUB2 .. "/rgA/lookupone", SUB2 .. "/rgB/LookupOne", SUB2 .. "/rgA/lookuptwo" },
      subscription_names = { [SUB2] = "Prod Sub", ["sub-named-only"] = "Named Only" } }
  end)
  teardown(function() if em then em:stop() end end)
  before_each(function()
    em:reset()
    em:settings{ page_size = 100 }
  end)

  -- Every item of every page, following nextLink (absolute, as ARM's are).
  local function all(path, api_version)
    local items, url, pages = {}, path .. "?api-version=" .. api_version, 0
    while url do
      local status, _, body, doc = em:arm("GET", url)
      assert.are.equal(200, status, body)
      pages = pages + 1
      for _, v in ipairs(doc.value) do items[#items + 1] = v end
      url = doc.nextLink
      if url then assert.matches("^" .. em.url:gsub("%p", "%%%0") .. "/", url) end
    end
    return items, pages
  end

  local function by(items, key)
    local t = {}
    for _, v in ipairs(items) do t[v[key]] = v end
    return t
  end

  it("GET /subscriptions lists the registries' subscriptions and the named ones, as ARM", function()
    local subs = by(all("/subscriptions", "2022-12-01"), "subscriptionId")
    local n = 0
    for _ in pairs(subs) do n = n + 1 end
    assert.are.equal(3, n)   -- SUB2, the default registry's, and the named-only one
    local s = subs[SUB2]
    assert.are.equal("/subscriptions/" .. SUB2, s.id)
    assert.are.equal("Prod Sub", s.displayName)
    assert.are.equal("Enabled", s.state)
    assert.are.equal("string", type(s.tenantId))
    assert.are.equal("Subscription " .. helpers.DEFAULT_SUB, subs[helpers.DEFAULT_SUB].displayName)
    assert.are.equal("Named Only", subs["sub-named-only"].displayName)
    local _, _, _, doc = em:arm("GET", "/subscriptions?api-version=2020-01-01")
    assert.are.same({ type = "Total", value = 3 }, doc.count)
  end)

  it("pages the subscription list with nextLink", function()
    em:settings{ page_size = 1 }
    local items, pages = all("/subscriptions", "2020-01-01")
    assert.are.equal(3, #items)
    assert.are.equal(3, pages)
    local seen = by(items, "subscriptionId")
    assert.is_truthy(seen[SUB2] and seen["sub-named-only"] and seen[helpers.DEFAULT_SUB])
  end)

  it("/__admin/subscriptions names a subscription until reset, which restores the seeded names", function()
    local t, st = em:admin("POST", "subscriptions", { subscription = SUB3, display_name = "Dev" })
    assert.are.equal(200, st)
    assert.are.same({ subscription = SUB3, display_name = "Dev" }, t)
    em:admin("POST", "subscriptions", { subscription = SUB2, display_name = "Renamed" })
    local subs = by(all("/subscriptions", "2022-12-01"), "subscriptionId")
    assert.are.equal("Dev", subs[SUB3].displayName)
    assert.are.equal("Renamed", subs[SUB2].displayName)
    local list = em:admin("GET", "subscriptions")
    assert.are.equal(3, #list)
    em:reset()
    subs = by(all("/subscriptions", "2022-12-01"), "subscriptionId")
    assert.is_nil(subs[SUB3])
    assert.are.equal("Prod Sub", subs[SUB2].displayName)
    for _, bad in ipairs {
      { display_name = "x" }, { subscription = "a/b", display_name = "x" },
      { subscription = SUB3 }, { subscription = SUB3, display_name = "" },
      { subscription = SUB3, display_name = "a\nb" },
    } do
      local _, bst = em:admin("POST", "subscriptions", bad)
      assert.are.equal(400, bst)
    end
  end)

  it("lists a subscription's registries in ARM's shape, paged, case-insensitively", function()
    local regs = all("/subscriptions/" .. SUB2 .. REGS_PATH, "2019-05-01")
    assert.are.equal(3, #regs)
    local ids = by(regs, "id")
    local r = ids["/subscriptions/" .. SUB2 .. "/resourceGroups/rgB/providers/Microsoft.ContainerRegistry/registries/LookupOne"]
    assert.is_truthy(r)
    assert.are.equal("LookupOne", r.name)
    assert.are.equal("Microsoft.ContainerRegistry/registries", r.type)
    assert.are.equal("lookupone.azurecr.io", r.properties.loginServer)
    assert.are.equal("Succeeded", r.properties.provisioningState)
    assert.are.equal("Standard", r.sku.name)
    assert.are.equal("string", type(r.location))
    em:settings{ page_size = 2 }
    local paged, pages = all("/subscriptions/" .. SUB2:upper() .. "/PROVIDERS/microsoft.containerregistry/Registries",
      "2019-05-01-preview")
    assert.are.equal(3, #paged)
    assert.are.equal(2, pages)
    -- a registry made at run time is listed; another subscription's are not
    em:add_registry(SUB3, "rg3", "lookupthree")
    local three = all("/subscriptions/" .. SUB3 .. REGS_PATH, "2019-05-01")
    assert.are.equal(1, #three)
    assert.are.equal("lookupthree", three[1].name)
    assert.are.same({}, all("/subscriptions/00000000-0000-0000-0000-0000000000ff" .. REGS_PATH, "2019-05-01"))
  end)

  it("both lists need the bearer token and an api-version they know", function()
    for _, path in ipairs { "/subscriptions?api-version=2022-12-01",
                            "/subscriptions/" .. SUB2 .. REGS_PATH .. "?api-version=2019-05-01" } do
      local status, headers = em:request("GET", path)
      assert.are.equal(401, status)
      assert.matches("^Bearer", headers["www-authenticate"])
      assert.are.equal(401, (em:arm("GET", path, { token = "not-a-token" })))
      assert.are.equal(405, (em:arm("POST", path, { body = "{}" })))
    end
    local status, _, _, doc = em:arm("GET", "/subscriptions?api-version=2019-05-01-preview")
    assert.are.equal(400, status)
    assert.are.equal("InvalidApiVersionParameter", doc.error.code)
    status = em:arm("GET", "/subscriptions/" .. SUB2 .. REGS_PATH .. "?api-version=2001-01-01")
    assert.are.equal(400, status)
    status, _, _, doc = em:arm("GET", "/subscriptions", { api_version = false })
    assert.are.equal(400, status)
    assert.are.equal("MissingApiVersionParameter", doc.error.code)
  end)

  it("--subscription-name refuses a malformed ID=NAME", function()
    for _, bad in ipairs { { ["a/b"] = "x" }, { [SUB3] = 'say "hi"' }, { [SUB3] = "" } } do
      assert.has_error(function() helpers.start_emulator{ subscription_names = bad } end)
    end
  end)
end)
