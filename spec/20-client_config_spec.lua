-- acr.client{…} checks its options at once and names the one that is wrong;
-- names are checked against the API's rules before any request.
local acr = require "acr"

local function base(over)
  local o = { subscription_id = "sub", resource_group = "rg", registry = "myregistry",
              credential = acr.credential.static("tok"), endpoint = "http://127.0.0.1:9" }
  for k, v in pairs(over or {}) do
    if v == false then o[k] = nil else o[k] = v end
  end
  return o
end

local function raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, tostring(err))
end

describe("acr.client options #unit", function()
  it("builds a client from valid options, without any request", function()
    local c = acr.client(base())
    assert.are.equal("acr.Client", getmetatable(c).__name)
    assert.are.equal("http://127.0.0.1:9", c:endpoint())
    assert.are.equal("/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myregistry",
                     c:registry_id())
    assert.are.equal(0, c:connections())
    assert.matches("^acr%.Client%(http://127%.0%.0%.1:9/subscriptions/sub/", tostring(c))
  end)

  it("rejects an unknown option by name", function()
    raises("unknown option 'subscription'", acr.client, base{ subscription = "x" })
  end)

  it("names each missing required option", function()
    for _, k in ipairs{ "subscription_id", "resource_group", "registry" } do
      raises("option '" .. k .. "' is required", acr.client, base{ [k] = false })
    end
    raises("option 'credential' must be an acr.Credential", acr.client, base{ credential = false })
  end)

  it("names each option of the wrong type", function()
    raises("option 'registry' must be a string, got number", acr.client, base{ registry = 5 })
    raises("option 'timeout' must be a number, got string", acr.client, base{ timeout = "5" })
    raises("option 'poll_interval' must be a number", acr.client, base{ poll_interval = {} })
    raises("option 'logger' must be a function", acr.client, base{ logger = "print" })
    raises("option 'credential' must be an acr.Credential", acr.client, base{ credential = "eyJ" })
    raises("option 'retry' must be", acr.client, base{ retry = "3" })
    raises("unknown field 'tries' in option 'retry'", acr.client, base{ retry = { tries = 3 } })
    raises("option 'timeout' must be > 0", acr.client, base{ timeout = -1 })
    raises("bad argument #1", acr.client, "not a table")
  end)

  it("checks the registry, resource group and subscription", function()
    raises("'registry' must be 5 to 50", acr.client, base{ registry = "abc" })
    raises("'registry' must be 5 to 50", acr.client, base{ registry = "my-registry" })
    raises("'registry' must be 5 to 50", acr.client, base{ registry = ("a"):rep(51) })
    raises("'resource_group' is not a valid", acr.client, base{ resource_group = "a/b" })
    raises("'subscription_id' is not a valid", acr.client, base{ subscription_id = "x?y" })
  end)

  it("chooses clouds and refuses plain http off loopback", function()
    local c = acr.client(base{ endpoint = false, cloud = "AzureChinaCloud" })
    assert.are.equal("https://management.chinacloudapi.cn", c:endpoint())
    assert.are.equal("https://management.azure.com", acr.client(base{ endpoint = false }):endpoint())
    raises("unknown cloud 'Mars'", acr.client, base{ endpoint = false, cloud = "Mars" })
    raises("'cloud' or 'endpoint', not both", acr.client, base{ cloud = "AzureCloud" })
    raises("must be https", acr.client, base{ endpoint = "http://example.com" })
    raises("not an http%(s%) URL", acr.client, base{ endpoint = "ftp://example.com" })
    assert.are.equal("https://example.com", acr.client(base{ endpoint = "https://example.com/" }):endpoint())
  end)

  it("checks ca_file exists", function()
    raises("'ca_file' is not a readable file", acr.client, base{ ca_file = "/nonexistent/ca.pem" })
  end)

  it("closes idempotently and refuses use after close", function()
    local c = acr.client(base())
    c:close(); c:close()
    assert.are.equal("acr.Client(closed)", tostring(c))
    raises("client is closed", c.get_token, c, "abcde")
  end)

  it("checks names before any request", function()
    local c = acr.client(base())
    raises("bad argument #2 .*5 to 50", c.get_token, c, "abc")
    raises("bad argument #2 .*only letters, digits and '%-'", c.get_token, c, "bad_name")
    raises("bad argument #2 .*5 to 50", c.create_scope_map, c, ("a"):rep(51), { actions = { "x" } })
    raises("bad argument #2 .*letters, digits, '%-' and '_'", c.get_scope_map, c, "bad.name")
    raises("bad argument #2", c.get_token, c, nil)
    assert.are.equal(0, c:connections())
  end)

  it("checks bodies before any request", function()
    local c = acr.client(base())
    raises("field 'actions' must be a non%-empty list", c.create_scope_map, c, "abcde", {})
    raises("field 'actions' must hold only non%-empty strings", c.create_scope_map, c, "abcde", { actions = { 1 } })
    raises("field 'colour' is not known", c.create_scope_map, c, "abcde", { actions = { "a" }, colour = 1 })
    raises("field 'description' must be a string", c.update_scope_map, c, "abcde", { description = 4 })
    raises("field 'scope_map' is required", c.create_token, c, "abcde", {})
    raises("field 'status' must be 'enabled' or 'disabled'", c.create_token, c, "abcde", { scope_map = "abcde", status = "on" })
    raises("bad argument #3", c.update_token, c, "abcde", "enabled")
    raises("ScopeMap, a scope map name or a resource id", c.create_token, c, "abcde", { scope_map = 7 })
    raises("field 'token' is required", c.generate_credentials, c, {})
    raises("field 'name' must be 'password1' or 'password2'", c.generate_credentials, c, { token = "abcde", name = "pw3" })
    raises("bad argument #2", c.request, c, "FETCH", "/x")
    raises("not on the client's endpoint", c.request, c, "GET", "https://evil.example/x")
    raises("unknown option 'bdy'", c.request, c, "GET", "/x", { bdy = 1 })
    raises("Authorization comes from the credential", c.request, c, "GET", "/x", { headers = { authorization = "x" } })
    raises("final_state_via", c.request, c, "GET", "/x", { final_state_via = "somewhere" })
    raises("no operation named 'explode'", c.prepare, c, "explode")
    assert.are.equal(0, c:connections())
  end)

  it("builds requests the ARM way", function()
    local c = acr.client(base())
    local op = c:prepare("create_token", "tok-1", { scope_map = "map_1", status = "disabled" })
    local req = op:next_request()
    assert.are.equal("PUT", req.method)
    assert.are.equal("http://127.0.0.1:9/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myregistry/tokens/tok-1?api-version=2019-05-01-preview", req.url)
    assert.are.equal("Bearer tok", req.headers.Authorization)
    assert.are.equal("application/json", req.headers["Content-Type"])
    assert.are.equal("application/json", req.headers.Accept)
    assert.matches("^lua%-acr/%d+%.%d+%.%d+ %(.*; libcurl/", req.headers["User-Agent"])
    assert.are.equal(op:request_id(), req.headers["x-ms-client-request-id"])
    local body = require("cjson").decode(req.body)
    assert.are.equal("disabled", body.properties.status)
    assert.are.equal(c:registry_id() .. "/scopeMaps/map_1", body.properties.scopeMapId)
    assert.are.equal("NotStarted", op:status())
    local ua = acr.client(base{ user_agent = "myrunbook/2" }):prepare("get_token", "abcde")
    assert.matches("^myrunbook/2 lua%-acr/", ua:next_request().headers["User-Agent"])
    local raw = c:prepare("request", "GET", "/subscriptions/sub/x?api-version=old&a=1", { query = { b = "x y" } })
    assert.are.equal("http://127.0.0.1:9/subscriptions/sub/x?a=1&b=x%20y&api-version=2019-05-01-preview",
                     raw:next_request().url)
    local keep = c:prepare("request", "GET", "/x?api-version=old", { api_version = false })
    assert.are.equal("http://127.0.0.1:9/x?api-version=old", keep:next_request().url)
  end)

  it("never shows the bearer token in tostring", function()
    local cred = acr.credential.static("very-secret-token")
    assert.are.equal("acr.Credential(static)", tostring(cred))
    local c = acr.client(base{ credential = cred })
    assert.is_nil(tostring(c):find("very-secret", 1, true))
    local op = c:prepare("get_token", "abcde")
    assert.is_nil(tostring(op):find("very-secret", 1, true))
    raises("token must not be empty", acr.credential.static, "")
    raises("token must be one line", acr.credential.static, "a\r\nX-Evil: 1")
  end)
end)
