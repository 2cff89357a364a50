-- acr-emulator: bad requests get a 4xx with ARM's error shape and leave state alone.
package.path = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/?.lua;" .. package.path
local helpers = require "helpers"

describe("acr-emulator validation #emulator", function()
  local em, REG, before_maps, before_tokens

  local function sm(name) return REG .. "/scopeMaps/" .. name end
  local function tok(name) return REG .. "/tokens/" .. name end

  local function expect_error(status, code, method, path, opts)
    local s, h, body, j = em:arm(method, path, opts)
    assert.are.equal(status, s, method .. " " .. path .. " -> " .. tostring(body))
    assert.is_table(j, "not JSON: " .. tostring(body))
    assert.are.equal(code, j.error.code, body)
    assert.is_string(j.error.message)
    assert.is_true(#j.error.message > 10)
    assert.are.equal("application/json; charset=utf-8", h["content-type"])
    assert.is_string(h["x-ms-request-id"])
    return j
  end

  local function snapshot()
    local _, _, maps = em:arm("GET", REG .. "/scopeMaps")
    local _, _, toks = em:arm("GET", REG .. "/tokens")
    return maps, toks
  end

  setup(function()
    em = helpers.start_emulator { retry_after = 0, polls = 0, lro_style = "body",
      registries = { "sub-val/rg-val/valregistry", "s/r/" .. string.rep("r", 50) } }
    REG = em:registry_path("sub-val", "rg-val", "valregistry")
    assert.are.equal(201, (em:arm("PUT", sm("good-map"), { body = { properties = {
      actions = { "repositories/good/content/read" }, description = "keep me" } } })))
    assert.are.equal(201, (em:arm("PUT", tok("good-token"), { body = { properties = { scopeMapId = sm("good-map") } } })))
    -- body style with polls 0: the first GET of each resource completes its creation
    assert.are.equal("Succeeded", select(4, em:arm("GET", sm("good-map"))).properties.provisioningState)
    assert.are.equal("Succeeded", select(4, em:arm("GET", tok("good-token"))).properties.provisioningState)
    before_maps, before_tokens = snapshot()
  end)

  lazy_teardown(function()
    if em then em:stop() end
  end)

  describe("request bodies", function()
    it("rejects malformed, empty and non-object JSON with InvalidRequestContent", function()
      for _, body in ipairs { '{"properties": {"actions": ["a"]', "", "   ", "[1,2]", '"text"', "null", "\1\2\255" } do
        expect_error(400, "InvalidRequestContent", "PUT", sm("good-map"), { body = body })
        expect_error(400, "InvalidRequestContent", "PATCH", tok("good-token"), { body = body })
        expect_error(400, "InvalidRequestContent", "POST", REG .. "/generateCredentials", { body = body })
      end
    end)

    it("answers a body over the size limit with ARM's 413", function()
      local big = '{"properties":{"actions":["' .. string.rep("a", 5 * 1024 * 1024) .. '"]}}'
      expect_error(413, "RequestEntityTooLarge", "PUT", sm("good-map"), { body = big })
    end)

    it("checks scope map bodies", function()
      expect_error(400, "InvalidParameter", "PUT", sm("new-map"), { body = {} })
      expect_error(400, "InvalidParameter", "PUT", sm("new-map"), { body = { properties = { description = "x" } } })
      expect_error(400, "InvalidParameter", "PUT", sm("good-map"), { body = '{"properties":{"actions":[]}}' })
      expect_error(400, "InvalidParameter", "PUT", sm("good-map"), { body = { properties = { actions = { "" } } } })
      expect_error(400, "InvalidRequestContent", "PUT", sm("good-map"), { body = { properties = "actions" } })
      expect_error(400, "InvalidRequestContent", "PUT", sm("good-map"), { body = { properties = { actions = "repositories/a/content/read" } } })
      expect_error(400, "InvalidRequestContent", "PUT", sm("good-map"), { body = { properties = { actions = { 1, 2 } } } })
      expect_error(400, "InvalidRequestContent", "PUT", sm("good-map"), { body = { properties = { actions = { { a = 1 } } } } })
      expect_error(400, "InvalidRequestContent", "PUT", sm("good-map"), { body = { properties = { actions = { "repositories/a/content/read" }, description = 5 } } })
      expect_error(400, "InvalidRequestContent", "PATCH", sm("good-map"), { body = { properties = { description = true } } })
      expect_error(400, "InvalidParameter", "PATCH", sm("good-map"), { body = '{"properties":{"actions":{}}}' })
    end)

    it("accepts the scope map actions ACR accepts, on create and update", function()
      for _, a in ipairs {
        "repositories/app/content/read", "repositories/app/content/write", "repositories/app/content/delete",
        "repositories/app/metadata/read", "repositories/app/metadata/write",
        "repositories/team/app/content/read", "repositories/a.b_c-d/x/y9/metadata/read", "repositories/a/content/read",
        "repositories/*/content/read", "repositories/team/*/content/write", "repositories/team/sub/*/metadata/read",
        "repositories/" .. string.rep("r", 256) .. "/content/read",
        "gateway/edge1/config/read", "gateway/edge1/config/write", "gateway/EdgeGateway2/message/read",
        "gateway/" .. string.rep("g", 50) .. "/message/write",
      } do
        assert.are.equal(201, (em:arm("PUT", sm("act-map"), { body = { properties = { actions = { a } } } })), a)
        local _, _, body, j = em:arm("PATCH", sm("act-map"), { body = { properties = { actions = { a, a } } } })
        assert.are.same({ a, a }, j.properties.actions, body)
        assert.are.equal(200, (em:arm("DELETE", sm("act-map"))))
      end
    end)

    it("answers 400 InvalidParameter naming the action for anything else, and keeps the map", function()
      for _, a in ipairs {
        "a", "a/b", "repositories", "repositories/", "repositories/app", "repositories/app/",
        "repositories/app/content", "repositories/app/content/read/", "repositories/app/content/list",
        "repositories/app/pull", "repositories/app/contentRead", "repositories/App/content/read",
        "repositories//content/read", "repositories/team//app/content/read", "repositories/team/app//content/read",
        "repositories/-app/content/read", "repositories/app-/content/read", "repositories/.app/content/read",
        "repositories/a pp/content/read", "repositories/app*/content/read", "repositories/*/app/content/read",
        "repositories/team/*/*/content/read", "repositories/**/content/read", "repositories/team/*/",
        "repositories/" .. string.rep("r", 257) .. "/content/read", "/repositories/app/content/read",
        "Repositories/app/content/read", "repositories/app/Content/Read",
        "gateway/edge1/config", "gateway/edge1/config/delete", "gateway/edge1/content/read", "gateway/edge/config/read",
        "gateway/edge-1/config/read", "gateway/edge1/sub/config/read", "gateway//config/read",
        "gateway/" .. string.rep("g", 51) .. "/config/read", "gateways/edge1/config/read",
      } do
        local j = expect_error(400, "InvalidParameter", "PUT", sm("act-bad"), { body = { properties = {
          actions = { "repositories/good/content/read", a } } } })
        assert.truthy(j.error.message:find("'" .. a .. "'", 1, true), j.error.message)
        expect_error(400, "InvalidParameter", "PATCH", sm("good-map"), { body = { properties = { actions = { a } } } })
      end
      assert.are.equal(404, (em:arm("GET", sm("act-bad"))))
      local _, _, _, j = em:arm("GET", sm("good-map"))
      assert.are.same({ "repositories/good/content/read" }, j.properties.actions)
    end)

    it("checks token bodies", function()
      expect_error(400, "InvalidParameter", "PUT", tok("new-token"), { body = { properties = { status = "enabled" } } })
      expect_error(400, "InvalidRequestContent", "PUT", tok("new-token"), { body = { properties = { scopeMapId = 42 } } })
      expect_error(400, "InvalidParameter", "PUT", tok("new-token"), { body = { properties = { scopeMapId = sm("no-such-map") } } })
      expect_error(400, "InvalidParameter", "PUT", tok("new-token"), { body = { properties = { scopeMapId = "not-an-id" } } })
      expect_error(400, "InvalidParameter", "PUT", tok("new-token"), { body = { properties = {
        scopeMapId = em:registry_path("sub-val", "rg-val", "otherregistry") .. "/scopeMaps/_repositories_pull" } } })
      expect_error(400, "InvalidParameter", "PATCH", tok("good-token"), { body = { properties = { status = "on" } } })
      expect_error(400, "InvalidRequestContent", "PATCH", tok("good-token"), { body = { properties = { status = 1 } } })
      expect_error(400, "InvalidRequestContent", "PATCH", tok("good-token"), { body = { properties = { objectId = {} } } })
      expect_error(400, "InvalidParameter", "PATCH", tok("good-token"), { body = { properties = {
        credentials = { passwords = { { name = "password3" } } } } } })
      expect_error(400, "InvalidRequestContent", "PATCH", tok("good-token"), { body = { properties = { credentials = "x" } } })
      expect_error(400, "InvalidParameter", "PATCH", tok("good-token"), { body = { properties = {
        credentials = { passwords = { { name = "password1", expiry = "tomorrow" } } } } } })
    end)

    it("checks generateCredentials bodies", function()
      local gc = REG .. "/generateCredentials"
      expect_error(400, "InvalidParameter", "POST", gc, { body = { name = "password1" } })
      expect_error(400, "InvalidRequestContent", "POST", gc, { body = { tokenId = 7 } })
      expect_error(400, "InvalidParameter", "POST", gc, { body = { tokenId = tok("good-token"), name = "password3" } })
      expect_error(400, "InvalidRequestContent", "POST", gc, { body = { tokenId = tok("good-token"), name = 1 } })
      expect_error(400, "InvalidParameter", "POST", gc, { body = { tokenId = tok("good-token"), expiry = "tomorrow" } })
      expect_error(400, "InvalidParameter", "POST", gc, { body = { tokenId = "/subscriptions/x" } })
    end)
  end)

  describe("names", function()
    it("enforces lengths 5-50", function()
      expect_error(400, "InvalidResourceName", "GET", sm("abcd"))
      expect_error(400, "InvalidResourceName", "GET", tok(string.rep("t", 51)))
      expect_error(400, "InvalidResourceName", "GET", em:registry_path("s", "r", "regs") .. "/tokens")
      expect_error(400, "InvalidResourceName", "GET", em:registry_path("s", "r", string.rep("r", 51)) .. "/tokens")
      -- the limits themselves are fine
      assert.are.equal(404, (em:arm("GET", sm("abcde"))))
      assert.are.equal(404, (em:arm("GET", tok(string.rep("t", 50)))))
      assert.are.equal(200, (em:arm("GET", em:registry_path("s", "r", string.rep("r", 50)) .. "/tokens")))
    end)

    it("enforces the character sets of each kind of name", function()
      expect_error(400, "InvalidResourceName", "PUT", tok("bad_token"), { body = { properties = { scopeMapId = sm("good-map") } } })
      expect_error(400, "InvalidResourceName", "PUT", sm("bad.map1"), { body = { properties = { actions = { "repositories/a/content/read" } } } })
      expect_error(400, "InvalidResourceName", "GET", sm("bad%20map"))
      expect_error(400, "InvalidResourceName", "GET", em:registry_path("s", "r", "bad-registry") .. "/scopeMaps")
      -- underscores are allowed in scope map names, hyphens in all but registry names
      assert.are.equal(201, (em:arm("PUT", sm("ok_map-1"), { body = { properties = { actions = { "repositories/a/content/read" } } } })))
      assert.are.equal(204, (em:arm("DELETE", tok("ok-token-1"))))
      em:arm("DELETE", sm("ok_map-1"))
    end)
  end)

  describe("api-version and paths", function()
    it("requires a known api-version", function()
      expect_error(400, "MissingApiVersionParameter", "GET", REG .. "/tokens", { api_version = false })
      expect_error(400, "MissingApiVersionParameter", "GET", REG .. "/tokens?foo=bar")
      expect_error(400, "InvalidApiVersionParameter", "GET", REG .. "/tokens", { api_version = "2001-01-01" })
      expect_error(400, "InvalidApiVersionParameter", "PUT", sm("good-map"), { api_version = "",
        body = { properties = { actions = { "repositories/x/content/read" } } } })
      assert.are.equal(200, (em:arm("GET", REG .. "/tokens", { api_version = "2023-01-01-preview" })))
      assert.are.equal(200, (em:arm("GET", REG .. "/tokens?API-VERSION=2022-12-01")))
    end)

    it("treats the fixed path segments case-insensitively", function()
      local lower = REG:gsub("resourceGroups", "resourcegroups"):gsub("Microsoft%.ContainerRegistry", "microsoft.containerregistry")
      local s, _, _, j = em:arm("GET", lower .. "/SCOPEMAPS/good-map")
      assert.are.equal(200, s)
      assert.are.equal(sm("good-map"), j.id)
    end)

    it("answers unknown paths with ARM's 404s", function()
      expect_error(404, "InvalidResourceType", "GET", REG .. "/webhooks")
      expect_error(404, "InvalidResourceType", "GET", REG .. "/tokens/good-token/extra")
      expect_error(404, "NoRegisteredProviderFound", "GET", "/subscriptions/s/resourceGroups/r/providers/Microsoft.Compute/virtualMachines/vm")
      expect_error(404, "InvalidResourceType", "GET", "/nothing/here")
    end)

    it("answers a wrong method with 405 and Allow", function()
      local j = expect_error(405, "MethodNotAllowed", "POST", tok("good-token"), { body = {} })
      assert.matches("POST", j.error.message)
      local s, h = em:arm("PUT", REG .. "/tokens", { body = {} })
      assert.are.equal(405, s)
      assert.are.equal("GET", h["allow"])
      expect_error(405, "MethodNotAllowed", "GET", REG .. "/generateCredentials")
    end)
  end)

  it("leaves state as it was and never answers 5xx", function()
    local maps, toks = snapshot()
    assert.are.equal(before_maps, maps)
    assert.are.equal(before_tokens, toks)
    local _, _, _, j = em:arm("GET", sm("good-map"))
    assert.are.equal("keep me", j.properties.description)
    assert.are.same({ "repositories/good/content/read" }, j.properties.actions)
    for _, e in ipairs(em:log()) do
      assert.is_true(e.status < 500, e.method .. " " .. e.path .. " -> " .. e.status)
    end
    assert.is_nil(em:stats().requests["unknown"])
  end)
end)
