-- Long-running operations at ARM's edges, replayed through feed(): only the URL the
-- operation follows is checked, and a terminal answer needs no polling.
local acr = require "acr"
local cjson = require "cjson"

local REG = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myRegistry"
local EP = "https://management.azure.com"

local function client()
  return acr.client{ subscription_id = "s", resource_group = "rg", registry = "myRegistry",
                     credential = acr.credential.static("t"), poll_interval = 0 }
end

local function token_doc(state)
  return cjson.encode{ id = REG .. "/tokens/tok-one", name = "tok-one",
                       properties = { status = "enabled", provisioningState = state,
                                      scopeMapId = REG .. "/scopeMaps/map-one" } }
end

describe("long-running operations at the edges #unit", function()
  it("polls Azure-AsyncOperation and ignores a Location on another host it does not need", function()
    local c = client()
    local op = c:prepare("create_token", "tok-one", { scope_map = "map-one" })
    assert(op:next_request())
    op:feed(201, { ["azure-asyncoperation"] = EP .. "/status/1",
                   location = "https://evil.example/somethingBadWhichShouldNotBeUsed" },
            token_doc("Creating"))
    local seen = {}
    for _ = 1, 5 do
      local req = op:next_request()
      if not req then break end
      seen[#seen + 1] = req.url
      assert.is_nil(req.url:find("evil", 1, true))
      if req.url:find("/status/1", 1, true) then
        op:feed(200, {}, '{"status":"Succeeded"}')
      else
        op:feed(200, {}, token_doc("Succeeded"))
      end
    end
    assert.are.equal(EP .. "/status/1", seen[1])
    assert.matches("/tokens/tok%-one%?", seen[2])   -- the final GET: the original URL
    local tok = assert(op:result())
    assert.are.equal("tok-one", tok.name)
  end)

  it("still refuses a Location on another host when the final GET needs it (POST)", function()
    local c = client()
    local op = c:prepare("generate_credentials", { token = "tok-one" })
    assert(op:next_request())
    op:feed(202, { ["azure-asyncoperation"] = EP .. "/status/2", location = "https://evil.example/x" }, nil)
    assert.is_nil(op:next_request())
    local _, err = op:result()
    assert.are.equal("UntrustedHost", err.code)
    assert.matches("evil%.example", err.message)
  end)

  it("sends nothing more after a 200 Succeeded, whatever polling header came with it", function()
    local c = client()
    local op = c:prepare("update_token", "tok-one", { status = "disabled" })
    assert(op:next_request())
    op:feed(200, { ["azure-asyncoperation"] = EP .. "/status/3", location = EP .. "/loc/3" },
            token_doc("Succeeded"))
    assert.is_true(op:done())
    assert.is_nil(op:next_request())
    assert.are.equal("tok-one", assert(op:result()).name)
  end)
end)
