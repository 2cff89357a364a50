-- spec/recordings.lua against the real recordings in spec/fixtures/recordings/ (facts from INDEX.md).
local R = require "recordings"

local PY = "test_cli_mgmt_containerregistry_registry.test_scope_maps_and_tokens.yaml"
local CLI = "test_repository_token_create.yaml"
local NET_TOKEN = "ContainerRegistryToken().json"
local NET_SCOPE = "ContainerRegistryScopeMap().json"
local PS_NEW_TOKEN = "New-AzContainerRegistryToken.Recording.json"
local PS_RM_TOKEN = "Remove-AzContainerRegistryToken.Recording.json"
local PS_CREDS = "New-AzContainerRegistryCredentials.Recording.json"
local PS_NEW_SCOPE = "New-AzContainerRegistryScopeMap.Recording.json"
local PS_RM_SCOPE = "Remove-AzContainerRegistryScopeMap.Recording.json"
local PS_GET_TOKEN = "Get-AzContainerRegistryToken.Recording.json"

local ALL = { NET_SCOPE, NET_TOKEN, PS_GET_TOKEN, PS_CREDS, PS_NEW_SCOPE, PS_NEW_TOKEN,
  PS_RM_SCOPE, PS_RM_TOKEN, PY, CLI }

local cjson = require "cjson"

local function shape(list)
  local out = {}
  for i, it in ipairs(list) do out[i] = it.method .. " " .. it.status end
  return out
end

local function read(path)
  local fh = assert(io.open(path, "rb"))
  local s = fh:read("*a")
  fh:close()
  return s
end

local function write(path, s)
  local fh = assert(io.open(path, "wb"))
  fh:write(s)
  fh:close()
end

local function tmpdir()
  local p = io.popen("mktemp -d")
  local d = p:read("*l")
  p:close()
  return d
end

describe("recordings.dir", function()
  local real_getenv = os.getenv
  local function without_env()
    os.getenv = function(k)
      if k == "ACR_RECORDINGS" then return nil end
      return real_getenv(k)
    end
  end
  after_each(function() os.getenv = real_getenv end)

  it("is <repo root>/spec/fixtures/recordings, found from the loader's own path", function()
    without_env()
    local root = R.root()
    assert.truthy(io.open(root .. "/spec/recordings.lua"), "root " .. root .. " has no spec/recordings.lua")
    assert.is_nil(R.dir():find("/%.%./"))
    assert.equal(root .. "/spec/fixtures/recordings", R.dir())
    assert.truthy(io.open(R.dir() .. "/INDEX.md"), R.dir())
  end)

  it("follows a clone placed elsewhere (as CI does), with nothing beside it", function()
    without_env()
    local tmp = tmpdir()
    os.execute(("mkdir -p '%s/clone/spec/fixtures/recordings'"):format(tmp))
    write(tmp .. "/clone/spec/recordings.lua", read(R.root() .. "/spec/recordings.lua"))
    local copy = dofile(tmp .. "/clone/spec/recordings.lua")
    assert.equal(tmp .. "/clone/spec/fixtures/recordings", copy.dir())
    assert.equal(tmp .. "/clone", copy.root())
    os.execute(("rm -rf '%s'"):format(tmp))
  end)

  it("honours ACR_RECORDINGS", function()
    os.getenv = function(k)
      if k == "ACR_RECORDINGS" then return "/elsewhere/recs/" end
      return real_getenv(k)
    end
    assert.equal("/elsewhere/recs", R.dir())
  end)
end)

describe("recordings.list / examples", function()
  it("lists the ten real recordings, sorted, without INDEX.md or the examples folder", function()
    local expect = {}
    for i, n in ipairs(ALL) do expect[i] = n end
    table.sort(expect)
    assert.same(expect, R.list())
  end)

  it("lists the eleven spec examples as relative paths", function()
    local ex = R.examples()
    assert.equal(11, #ex)
    assert.equal("rest-api-specs-examples/2019-05-01-preview/RegistryGenerateCredentials.json", ex[1])
    assert.equal("rest-api-specs-examples/2023-07-01/TokenDelete.json", ex[11])
    for _, p in ipairs(ex) do assert.truthy(io.open(R.dir() .. "/" .. p), p) end
  end)
end)

describe("every recording", function()
  -- Bodies that do not match their Content-Length, and why (INDEX.md): the Python
  -- recorder replaced the resource group name with "rgname"; passwords were redacted.
  local function length_exempt(name, i, it)
    if name == PY then return it.body:find("rgname", 1, true) ~= nil end
    if name == CLI then return i == 7 and it.body:find('"value":"***"', 1, true) ~= nil end
    if name == PS_CREDS then return i == 2 and it.body:find('"value":"xxxx', 1, true) ~= nil end
    return false
  end

  for _, name in ipairs(ALL) do
    it("loads " .. name .. " into the common shape", function()
      local list = R.load(name)
      assert.is_true(#list >= 2)
      for i, it in ipairs(list) do
        local where = name .. " #" .. i
        assert.matches("^[A-Z]+$", it.method, where)
        assert.matches("^https://management%.azure%.com/subscriptions/", it.url, where)
        assert.is_number(it.status, where)
        assert.is_table(it.request_headers, where)
        for k, v in pairs(it.headers) do
          assert.equal(k:lower(), k, where)
          assert.is_string(v, where)
        end
        for k in pairs(it.request_headers) do assert.equal(k:lower(), k, where) end
        assert.is_string(it.headers["content-type"] or it.headers["content-length"] or it.headers["date"], where)
        if it.body ~= nil then
          assert.is_string(it.body, where)
          assert.is_true(#it.body > 0, where)
          if it.body ~= "null" then assert.is_table(cjson.decode(it.body), where) end
        end
        local cl = tonumber(it.headers["content-length"])
        if cl and not (it.body and length_exempt(name, i, it)) then
          assert.equal(cl, it.body and #it.body or 0, where .. " body length vs Content-Length")
        end
        if it.request_body then
          assert.is_table(cjson.decode(it.request_body), where)
        end
      end
    end)
  end
end)

describe("vcrpy: " .. PY, function()
  local t = R.load(PY)

  it("has 19 interactions in recorded order", function()
    assert.same({ "PUT 200", "PUT 200", "PUT 201", "GET 200", "GET 200", "GET 200", "GET 200",
      "PATCH 201", "GET 200", "GET 200", "PATCH 201", "GET 200", "GET 200", "POST 200",
      "DELETE 202", "GET 200", "DELETE 202", "GET 200", "DELETE 200" }, shape(t))
  end)

  it("PUT scopeMap is 200 with no LRO header, PUT token 201 with azure-asyncoperation", function()
    assert.matches("/scopeMaps/myScopeMap%?", t[2].url)
    assert.is_nil(t[2].headers["azure-asyncoperation"])
    assert.is_nil(t[2].headers["location"])
    assert.equal("Succeeded", cjson.decode(t[2].body).properties.provisioningState)
    assert.matches("/tokens/myToken%?", t[3].url)
    assert.matches("/tokens/myToken/operationStatuses/token%-[%x-]+%?api%-version=2019%-05%-01%-preview$",
      t[3].headers["azure-asyncoperation"])
    assert.equal("Creating", cjson.decode(t[3].body).properties.provisioningState)
    assert.equal('{"status":"Succeeded"}', t[4].body)
    assert.equal(t[3].headers["azure-asyncoperation"], t[4].url)
    assert.equal(t[3].headers["azure-asyncoperation"], t[4].headers["azure-asyncoperation"])
  end)

  it("PATCHes answer 201 Updating; generateCredentials returns 2 passwords with expiry", function()
    assert.equal("Updating", cjson.decode(t[8].body).properties.provisioningState)
    assert.truthy(t[11].headers["azure-asyncoperation"])
    local creds = cjson.decode(t[14].body)
    assert.equal(2, #creds.passwords)
    assert.truthy(creds.passwords[1].expiry)
  end)

  it("unwraps request bodies stored as Python bytes reprs", function()
    assert.equal('{"tokenId": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rgname/'
      .. 'providers/Microsoft.ContainerRegistry/registries/myRegistry/tokens/myToken", '
      .. '"expiry": "2020-12-31T15:59:59.07078Z"}', t[14].request_body)
    assert.equal("enabled", cjson.decode(t[3].request_body).properties.status)
    assert.equal("132", t[2].request_headers["content-length"])
    assert.equal(132, #t[2].request_body)
    assert.equal("application/json", t[2].request_headers["accept"])
  end)

  it("DELETE token is 202 + location with body null (4 bytes), then 200 with no body", function()
    assert.equal("null", t[15].body)
    assert.equal("4", t[15].headers["content-length"])
    assert.matches("/providers/Microsoft%.ContainerRegistry/locations/EASTUS/operationResults/token%-",
      t[15].headers["location"])
    assert.equal(t[15].headers["location"], t[16].url)
    assert.is_nil(t[16].body)
    assert.equal("null", t[17].body)
  end)

  it("has no retry-after and no x-ms-request-id anywhere", function()
    for _, it in ipairs(t) do
      assert.is_nil(it.headers["retry-after"])
      assert.is_nil(it.headers["x-ms-request-id"])
    end
  end)
end)

describe("vcrpy excerpt: " .. CLI, function()
  local t = R.load(CLI)

  it("keeps the 7 interactions in order", function()
    assert.same({ "GET 404", "PUT 200", "PUT 201", "GET 200", "GET 200", "GET 200", "POST 200" }, shape(t))
  end)

  it("GET scopeMap is 404 ResourceNotFound, body folded back to one line", function()
    assert.equal('{"error":{"code":"ResourceNotFound","message":"The resource acr-token-scope-map could not be found."},"status":"Failed"}',
      t[1].body)
    assert.equal("120", t[1].headers["content-length"])
    assert.is_nil(t[1].request_body)
  end)

  it("polls Creating, then Succeeded, on the signed azure-asyncoperation URL", function()
    local op = t[3].headers["azure-asyncoperation"]
    assert.matches("&t=%d+&c=", op)
    assert.matches("&s=.+&h=", op)
    assert.equal(op, t[4].url)
    assert.equal('{"status":"Creating"}', t[4].body)
    assert.equal('{"status":"Succeeded"}', t[5].body)
    assert.is_nil(t[3].headers["retry-after"])
  end)

  it("list-valued headers are joined with ', '", function()
    assert.matches("^2019%-05%-01%-preview, 2020%-11%-01%-preview, ", t[1].headers["api-supported-versions"])
  end)

  it("generateCredentials is redacted: body does not match content-length 307", function()
    assert.equal("307", t[7].headers["content-length"])
    assert.not_equal(307, #t[7].body)
    assert.equal("***", cjson.decode(t[7].body).passwords[1].value)
  end)
end)

describe(".NET: " .. NET_TOKEN, function()
  local t = R.load(NET_TOKEN)

  it("has the token lifecycle in order", function()
    assert.same({ "GET 200", "PUT 201", "PUT 200", "PUT 201", "GET 200", "GET 200", "GET 200", "GET 200",
      "PATCH 201", "GET 200", "GET 200", "POST 200", "DELETE 202", "GET 202", "GET 200", "DELETE 200" }, shape(t))
  end)

  it("PUT token 201 carries Azure-AsyncOperation and Retry-After 10 (names lowercased)", function()
    assert.matches("/tokens/acrtoken7970/operationStatuses/token%-%x+%?api%-version=2022%-12%-01$",
      t[4].headers["azure-asyncoperation"])
    assert.equal("10", t[4].headers["retry-after"])
    assert.equal("Creating", cjson.decode(t[4].body).properties.provisioningState)
    assert.equal('{"status":"Succeeded"}', t[5].body)
    assert.equal("10", t[5].headers["retry-after"])
    assert.truthy(t[5].headers["x-ms-request-id"])
  end)

  it("rebuilds JSON bodies byte-exact, in recorded key order, with '+' unescaped", function()
    assert.equal(871, #t[4].body)
    assert.matches('^{"type":"Microsoft.ContainerRegistry/registries/tokens","id":"/subscriptions/', t[4].body)
    assert.is_nil(t[4].body:find("\\u002B", 1, true))
    assert.truthy(t[4].body:find("+00:00", 1, true))
    assert.equal('{"properties":{"status":"disabled"}}', t[9].request_body)
  end)

  it("LIST has no nextLink; generateCredentials has a single password1 without expiry", function()
    local list = cjson.decode(t[7].body)
    assert.equal(1, #list.value)
    assert.is_nil(list.nextLink)
    local creds = cjson.decode(t[12].body)
    assert.equal(1, #creds.passwords)
    assert.equal("password1", creds.passwords[1].name)
    assert.is_nil(creds.passwords[1].expiry)
  end)

  it("DELETE 202 + Location + Retry-After 10 with body \"null\", poll 202, then 200 empty", function()
    local loc = t[13].headers["location"]
    assert.matches("/locations/WESTUS/operationResults/token%-%x+%?api%-version=2022%-12%-01$", loc)
    assert.equal("10", t[13].headers["retry-after"])
    assert.equal("null", t[13].body)
    assert.equal(loc, t[14].url)
    assert.equal(loc, t[14].headers["location"])
    assert.equal("null", t[14].body)
    assert.equal(loc, t[15].url)
    assert.is_nil(t[15].body)
    assert.equal("0", t[15].headers["content-length"])
  end)
end)

describe(".NET: " .. NET_SCOPE, function()
  local t = R.load(NET_SCOPE)

  it("PUT scopeMap is 200 sync; LIST has 3 SystemDefined maps plus the user map", function()
    assert.same({ "GET 200", "PUT 201", "PUT 200", "PUT 200", "GET 200", "GET 200", "PATCH 201",
      "GET 200", "GET 200", "DELETE 202", "GET 200", "DELETE 200" }, shape(t))
    assert.is_nil(t[4].headers["azure-asyncoperation"])
    local list = cjson.decode(t[5].body)
    assert.equal(4, #list.value)
    assert.is_nil(list.nextLink)
    local system = 0
    for _, m in ipairs(list.value) do
      if m.properties.type == "SystemDefined" then system = system + 1 end
    end
    assert.equal(3, system)
  end)

  it("PATCH 201 Updating with Azure-AsyncOperation; DELETE 202 Location, then 200", function()
    assert.matches("/scopeMaps/acrscopemap4845/operationStatuses/token%-", t[7].headers["azure-asyncoperation"])
    assert.equal("10", t[7].headers["retry-after"])
    assert.equal("Updating", cjson.decode(t[7].body).properties.provisioningState)
    assert.matches("/locations/WESTUS/operationResults/token%-", t[10].headers["location"])
    assert.equal("null", t[10].body)
    assert.is_nil(t[11].body)
  end)
end)

describe("PowerShell", function()
  it(PS_NEW_TOKEN .. ": 201 then a poll that returns a new signed Azure-AsyncOperation", function()
    local t = R.load(PS_NEW_TOKEN)
    assert.same({ "GET 200", "PUT 201", "GET 200", "GET 200" }, shape(t))
    local op1, op2 = t[2].headers["azure-asyncoperation"], t[3].headers["azure-asyncoperation"]
    assert.equal("10", t[2].headers["retry-after"])
    assert.equal("Creating", cjson.decode(t[2].body).properties.provisioningState)
    assert.equal(op1, t[3].url)
    assert.equal('{"status":"Succeeded"}', t[3].body)
    assert.equal("10", t[3].headers["retry-after"])
    assert.not_equal(op1, op2)
    assert.equal(op1:match("^[^?]*"), op2:match("^[^?]*"))
    assert.not_equal(op1:match("&t=(%d+)"), op2:match("&t=(%d+)"))
    assert.not_equal(op1:match("&h=([^&]+)"), op2:match("&h=([^&]+)"))
    assert.truthy(t[2].headers["x-ms-operation-identifier"])
    assert.truthy(t[2].headers["x-msedge-ref"])
    assert.is_nil(t[2].headers["server"])
    -- the request body is kept as sent (pretty-printed, CRLF line ends)
    assert.matches('^{\r\n  "properties": {', t[2].request_body)
    assert.equal("203", t[2].request_headers["content-length"])
  end)

  it(PS_RM_TOKEN .. ": DELETE 202 with no body, then 200 empty twice", function()
    local t = R.load(PS_RM_TOKEN)
    assert.same({ "DELETE 202", "GET 200", "GET 200" }, shape(t))
    assert.is_nil(t[1].body)
    assert.equal("0", t[1].headers["content-length"])
    assert.equal("10", t[1].headers["retry-after"])
    local loc = t[1].headers["location"]
    assert.matches("/locations/EASTUS/operationResults/token%-[%x-]+%?api%-version=2023%-01%-01%-preview&t=", loc)
    assert.equal(loc, t[2].url)
    assert.is_nil(t[2].body)
    assert.is_nil(t[3].body)
  end)

  it(PS_RM_SCOPE .. ": base64 'bnVsbA==' becomes the 4-byte body null", function()
    local t = R.load(PS_RM_SCOPE)
    assert.same({ "DELETE 202", "GET 200", "GET 200" }, shape(t))
    assert.equal("null", t[1].body)
    assert.equal("4", t[1].headers["content-length"])
    assert.equal("application/json; charset=utf-8", t[1].headers["content-type"])
    assert.matches("/locations/EASTUS/operationResults/token%-", t[1].headers["location"])
    assert.equal("AzurePowershell/v0.0.0, PSVersion/v7.2.10, Az.ContainerRegistry/0.1.0",
      t[1].request_headers["user-agent"])
  end)

  it(PS_CREDS .. ": generateCredentials 200 sync, 2 redacted passwords, no expiry", function()
    local t = R.load(PS_CREDS)
    assert.same({ "GET 200", "POST 200" }, shape(t))
    assert.is_nil(t[2].headers["azure-asyncoperation"])
    assert.is_nil(t[2].headers["location"])
    local creds = cjson.decode(t[2].body)
    assert.equal(2, #creds.passwords)
    assert.truthy(creds.passwords[1].creationTime)
    assert.is_nil(creds.passwords[1].expiry)
    assert.matches("^x+$", creds.passwords[1].value)
    assert.truthy(cjson.decode(t[2].request_body).tokenId)
  end)

  it(PS_NEW_SCOPE .. ": PUT 200 sync then two GETs", function()
    local t = R.load(PS_NEW_SCOPE)
    assert.same({ "PUT 200", "GET 200", "GET 200" }, shape(t))
    assert.equal("Succeeded", cjson.decode(t[1].body).properties.provisioningState)
    assert.is_nil(t[1].headers["azure-asyncoperation"])
    assert.equal(t[1].body, t[2].body)
  end)

  it(PS_GET_TOKEN .. ": kept in key order although both entries end in +1", function()
    local t = R.load(PS_GET_TOKEN)
    assert.same({ "GET 200", "GET 200" }, shape(t))
    assert.matches("%+List%+%$GET%+.*%+1$", t[1].key)
    assert.matches("%+Get%+%$GET%+.*%+1$", t[2].key)
    local list = cjson.decode(t[1].body)
    assert.equal(2, #list.value)
    assert.is_nil(list.nextLink)
    assert.matches("/tokens%?", t[1].url)
    assert.equal("Microsoft.ContainerRegistry/registries/tokens", cjson.decode(t[2].body).type)
  end)
end)

describe("recordings.load_example", function()
  it("ScopeMapDelete 2023-07-01: 200, 202 + Location, 204; no bodies", function()
    local e = R.load_example("rest-api-specs-examples/2023-07-01/ScopeMapDelete.json")
    assert.equal("myScopeMap", e.parameters.scopeMapName)
    assert.equal("2023-07-01", e.parameters["api-version"])
    assert.is_table(e.responses[200])
    assert.is_table(e.responses[204])
    assert.is_nil(e.responses[200].body)
    assert.matches("/scopeMaps/myScopeMap/operationStatuses/scopemaps%-", e.responses[202].headers["location"])
  end)

  it("ScopeMapCreate 2023-07-01: 201 + Azure-AsyncOperation; type IsUserDefined", function()
    local e = R.load_example("rest-api-specs-examples/2023-07-01/ScopeMapCreate.json")
    assert.matches("/operationStatuses/scopemaps%-", e.responses[201].headers["azure-asyncoperation"])
    assert.equal("IsUserDefined", cjson.decode(e.responses[200].body).properties.type)
    assert.matches('^{"', e.responses[201].body)
  end)

  it("TokenCreate 2023-07-01: parameters keep the PEM certificate", function()
    local e = R.load_example("rest-api-specs-examples/2023-07-01/TokenCreate.json")
    local cert = e.parameters.tokenCreateParameters.properties.credentials.certificates[1]
    assert.equal("certificate1", cert.name)
    assert.matches("^LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t", cert.encodedPemCertificate)
    assert.matches("/tokens/myToken/operationStatuses/tokens%-", e.responses[201].headers["azure-asyncoperation"])
  end)

  it("RegistryGenerateCredentials: 2023-07-01 allows 202 + Location, 2019-05-01-preview 200 only", function()
    local e = R.load_example("rest-api-specs-examples/2023-07-01/RegistryGenerateCredentials.json")
    assert.matches("/registries/myRegistry/operationStatuses/registries%-", e.responses[202].headers["location"])
    assert.equal(2, #cjson.decode(e.responses[200].body).passwords)
    local old = R.load_example("rest-api-specs-examples/2019-05-01-preview/RegistryGenerateCredentials.json")
    local codes = {}
    for k in pairs(old.responses) do codes[#codes + 1] = k end
    assert.same({ 200 }, codes)
  end)

  it("TokenDelete 2019-05-01-preview: 200 / 202 / 204 with no headers", function()
    local e = R.load_example("rest-api-specs-examples/2019-05-01-preview/TokenDelete.json")
    for _, c in ipairs { 200, 202, 204 } do
      assert.same({}, e.responses[c].headers)
      assert.is_nil(e.responses[c].body)
    end
  end)

  it("lists have no nextLink (ScopeMapList 2022-12-01, TokenList 2019-05-01-preview)", function()
    for _, p in ipairs { "rest-api-specs-examples/2022-12-01/ScopeMapList.json",
      "rest-api-specs-examples/2019-05-01-preview/TokenList.json" } do
      local body = cjson.decode(R.load_example(p).responses[200].body)
      assert.is_true(#body.value >= 1, p)
      assert.is_nil(body.nextLink, p)
    end
  end)
end)
