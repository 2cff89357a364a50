-- Every recording of real Azure traffic replays through the operation state machine
-- with no server: each request the machine asks for is the one that was recorded, and
-- each recorded response is fed back to it.
local acr = require "acr"
local cjson = require "cjson"
local recordings = require "recordings"

local function parse(url)
  local path, query = url:match("^https://[^/]+(/[^?]*)%??(.*)$")
  local sub, rg, reg, rest = path:match(
    "^/subscriptions/([^/]+)/resource[Gg]roups/([^/]+)/providers/Microsoft%.ContainerRegistry/registries/([^/]+)(.*)$")
  if not sub then return nil end
  local coll, name = rest:match("^/(%a+)/?([^/]*)$")
  local apiv = query:match("api%-version=([^&]+)")
  return { sub = sub, rg = rg, reg = reg, coll = coll, name = name ~= "" and name or nil,
           api_version = apiv, path = path }
end

local function same_url(a, b)
  local pa, qa = a:match("^([^?]*)%??(.*)$")
  local pb, qb = b:match("^([^?]*)%??(.*)$")
  if pa:lower() ~= pb:lower() then return false end
  -- Signed status URLs (t=, c=, s=, h=) change from poll to poll and the recorders
  -- differ on which one they re-sent; the resource path and api-version must agree.
  return qa:match("api%-version=([^&]*)") == qb:match("api%-version=([^&]*)")
end

-- The client call that produced a recorded request, as prepare() arguments.
local function call_for(x, p)
  local body = x.request_body and x.request_body ~= "" and cjson.decode(x.request_body) or {}
  local props = type(body) == "table" and body.properties or {}
  local kind = ({ scopeMaps = "scope_map", tokens = "token" })[p.coll]
  if p.coll == "generateCredentials" and x.method == "POST" then
    return "generate_credentials", { { token = body.tokenId, name = body.name, expiry = body.expiry } }
  end
  if not kind then return nil end
  if x.method == "GET" and not p.name then return "list_" .. kind end
  if x.method == "GET" then return "get_" .. kind, { p.name } end
  if x.method == "DELETE" then return "delete_" .. kind, { p.name } end
  local verb = x.method == "PUT" and "create_" or "update_"
  if kind == "scope_map" then
    return verb .. kind, { p.name, { actions = props.actions, description = props.description } }
  end
  return verb .. kind, { p.name, { scope_map = props.scopeMapId, status = props.status } }
end

local function client_for(p)
  return acr.client{
    subscription_id = p.sub, resource_group = p.rg, registry = p.reg,
    credential = acr.credential.static("recorded-token"), api_version = p.api_version,
  }
end

-- Replays the operation starting at interaction i; returns the next index and a summary.
local function replay_op(list, i, client, name, args)
  local op, pager
  if name:match("^list_") then
    pager = name == "list_token" and client:tokens() or client:scope_maps()
    op = pager:next_operation()
  else
    op = client:prepare(name, table.unpack(args))
  end
  local steps = 0
  while true do
    local req = op:next_request()
    if not req then break end
    local x = list[i]
    assert(x, name .. ": the machine asked for more requests than were recorded")
    assert.are.equal(x.method, req.method)
    assert.is_true(same_url(req.url, x.url),
      ("%s: asked for %s, recorded %s"):format(name, req.url:sub(1, 200), x.url:sub(1, 200)))
    assert.are.equal("Bearer recorded-token", req.headers.Authorization)
    op:feed(x.status, x.headers, x.body)
    i, steps = i + 1, steps + 1
  end
  assert.is_true(op:done())
  local last = list[i - 1]
  local result, err
  if pager then result, err = pager:take(op) else result, err = op:result() end
  return i, { name = name, steps = steps, status = last.status, result = result, err = err,
              op = op }
end

local function replay(file)
  local list = recordings.load(file)
  local ops, i = {}, 1
  while i <= #list do
    local x = list[i]
    local p = parse(x.url)
    local name, args
    if p then name, args = call_for(x, p) end
    if name then
      local summary
      i, summary = replay_op(list, i, client_for(p), name, args or {})
      ops[#ops + 1] = summary
    else
      i = i + 1
    end
  end
  return ops
end

local function names(ops)
  local t = {}
  for k, o in ipairs(ops) do t[k] = o.name .. ":" .. o.steps end
  return table.concat(t, " ")
end

-- What each recording must replay as: operation:requests, in order.
local expected = {
  ["ContainerRegistryScopeMap().json"] =
    "create_scope_map:1 list_scope_map:1 get_scope_map:1 update_scope_map:3 delete_scope_map:2",
  ["ContainerRegistryToken().json"] =
    "create_token:3 list_token:1 get_token:1 update_token:3 generate_credentials:1 delete_token:3",
  ["Get-AzContainerRegistryToken.Recording.json"] = "list_token:1 get_token:1",
  ["New-AzContainerRegistryCredentials.Recording.json"] = "get_token:1 generate_credentials:1",
  ["New-AzContainerRegistryScopeMap.Recording.json"] = "create_scope_map:1 get_scope_map:1 get_scope_map:1",
  ["New-AzContainerRegistryToken.Recording.json"] = "get_scope_map:1 create_token:3",
  ["Remove-AzContainerRegistryScopeMap.Recording.json"] = "delete_scope_map:2",
  ["Remove-AzContainerRegistryToken.Recording.json"] = "delete_token:2",
  ["test_cli_mgmt_containerregistry_registry.test_scope_maps_and_tokens.yaml"] =
    "create_scope_map:1 create_token:3 get_token:1 get_scope_map:1 update_scope_map:3 update_token:3 generate_credentials:1 delete_token:2 delete_scope_map:2",
  ["test_repository_token_create.yaml"] =
    "get_scope_map:1 create_scope_map:1 create_token:4 generate_credentials:1",
}

describe("recorded traffic replays through op:feed() #replay", function()
  it("covers every recording", function()
    local files = recordings.list()
    assert.is_true(#files >= 10)
    for _, f in ipairs(files) do
      assert.is_string(expected[f], "no expectation for " .. f)
    end
  end)

  for file, want in pairs(expected) do
    it(file, function()
      local ops = replay(file)
      assert.are.equal(want, names(ops))
      for _, o in ipairs(ops) do
        if o.status >= 200 and o.status < 300 then
          assert.is_nil(o.err, o.name .. ": " .. tostring(o.err))
          assert.truthy(o.result, o.name)
          assert.are.equal("Succeeded", o.op:status())
          if o.name:match("^delete_") then assert.is_true(o.result) end
          if o.name:match("_token$") and not o.name:match("^delete_") and not o.name:match("^list_") then
            assert.are.equal("acr.Token", getmetatable(o.result).__name)
            assert.matches("/tokens/", o.result.id)
          end
          if o.name:match("_scope_map$") and not o.name:match("^delete_") and not o.name:match("^list_") then
            assert.are.equal("acr.ScopeMap", getmetatable(o.result).__name)
            assert.is_true(#o.result.actions >= 1)
          end
          if o.name == "generate_credentials" then
            assert.is_true(#o.result.passwords >= 1)
            assert.matches("^password[12]$", o.result.passwords[1].name)
          end
        else
          assert.is_nil(o.result)
          assert.are.equal(o.status, o.err.status)
        end
      end
    end)
  end

  it("surfaces the recorded 404 as ResourceNotFound with ARM's message", function()
    local ops = replay("test_repository_token_create.yaml")
    local err = ops[1].err
    assert.are.equal("ResourceNotFound", err.code)
    assert.are.equal(404, err.status)
    assert.matches("could not be found", err.message)
    assert.is_false(err.retryable)
  end)

  it("follows the newest signed Azure-AsyncOperation URL and waits the recorded Retry-After", function()
    local list = recordings.load("New-AzContainerRegistryToken.Recording.json")
    local p = parse(list[2].url)
    local op = client_for(p):prepare("create_token", p.name, { scope_map = "/subscriptions/x/resourceGroups/y/providers/Microsoft.ContainerRegistry/registries/z/scopeMaps/abcde" })
    op:feed(list[2].status, list[2].headers, list[2].body)
    local d = op:delay()
    assert.is_true(d > 9 and d <= 10, "delay " .. d)
    assert.are.equal(list[2].headers["azure-asyncoperation"], op:next_request().url)
    op:feed(list[3].status, list[3].headers, list[3].body)
    assert.are.equal("GET", op:next_request().method)
    assert.is_true(same_url(list[4].url, op:next_request().url))
  end)

  describe("spec examples: every documented response code", function()
    for _, rel in ipairs(recordings.examples()) do
      it(rel, function()
        local ex = recordings.load_example(rel)
        local file = rel:match("([^/]+)%.json$")
        local p = { sub = "s", rg = "rg", reg = "myRegistry", api_version = "2019-05-01-preview" }
        local tested = 0
        for status, resp in pairs(ex.responses) do
          local client = client_for(p)
          local op
          if file:match("^ScopeMapCreate") then
            op = client:prepare("create_scope_map", "myScopeMap", { actions = { "repositories/a/content/read" } })
          elseif file:match("^ScopeMapUpdate") then
            op = client:prepare("update_scope_map", "myScopeMap", { description = "d" })
          elseif file:match("^ScopeMapDelete") then
            op = client:prepare("delete_scope_map", "myScopeMap")
          elseif file:match("^TokenCreate") then
            op = client:prepare("create_token", "myToken", { scope_map = "myScopeMap" })
          elseif file:match("^TokenUpdate") then
            op = client:prepare("update_token", "myToken", { status = "disabled" })
          elseif file:match("^TokenDelete") then
            op = client:prepare("delete_token", "myToken")
          elseif file:match("GenerateCredentials") then
            op = client:prepare("generate_credentials", { token = "myToken" })
          else
            local pager = file:match("^Token") and client:tokens() or client:scope_maps()
            op = pager:next_operation()
            op:feed(status, resp.headers, resp.body)
            local items = assert(pager:take(op))
            assert.is_true(#items >= 1)
            tested = tested + 1
            goto continue
          end
          op:feed(status, resp.headers, resp.body)
          local poll = resp.headers["azure-asyncoperation"] or resp.headers.location
          if poll then
            assert.is_false(op:done())
            assert.are.equal(poll, op:next_request().url)
          elseif status == 202 then
            -- Accepted with nothing to poll: an error, not a guess.
            assert.is_true(op:done())
            local r, err = op:result()
            assert.is_nil(r)
            assert.are.equal("InvalidLroResponse", err.code)
          else
            assert.is_true(op:done(), rel .. " " .. status)
            assert.truthy((op:result()))
          end
          tested = tested + 1
          ::continue::
        end
        assert.is_true(tested >= 1)
      end)
    end
  end)
end)

describe("op:feed() takes what a driver hands it #unit", function()
  local acr = require "acr"
  local ch = require "client_helpers"
  local function fresh()
    local c = acr.client(ch.options())
    local op = c:prepare("get_token", "tok-feed")
    assert(op:next_request())
    return c, op
  end
  local DOC = '{"id":"/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ContainerRegistry/'
    .. 'registries/myregistry/tokens/tok-feed","name":"tok-feed","properties":{}}'

  it("a status as text, as a status line gives it", function()
    local c, op = fresh()
    assert.are.equal("Succeeded", op:feed("200", { ["content-type"] = "application/json" }, DOC))
    assert.are.equal("tok-feed", assert(op:result()).name)
    c:close()
  end)

  it("a whole number no status can be is a failed answer, not a raise", function()
    local c, op = fresh()
    assert.are.equal("Failed", op:feed(2 ^ 63, {}, DOC))
    local _, err = op:result()
    assert.is_truthy(acr.is_error(err))
    c:close()
  end)

  it("a transport failure's message with a NUL byte", function()
    local c, op = fresh()
    op:feed(nil, nil, nil, "TlsError", "handshake\0 failed")
    local _, err = op:result()
    assert.are.equal("TlsError", err.code)
    c:close()
  end)
end)
