-- Misuse raises at once, before any request, naming the argument or option: strings C
-- would see cut at a NUL byte, header and URL injection through options and headers=,
-- names the API does not allow, and durations no clock can wait (NaN, inf, 1e300).
local ch = require "client_helpers"
local helpers = ch.helpers
local acr = require "acr"

local TENANT = "00000000-0000-0000-0000-0000000000e1"

local base, raises = ch.options, ch.raises

describe("misuse #unit", function()
  it("refuses a NUL byte in every string option of acr.client", function()
    for _, k in ipairs{ "subscription_id", "resource_group", "registry", "api_version",
                        "user_agent", "audience", "authority_host" } do
      local v = ({ subscription_id = "sub", resource_group = "rg", registry = "myregistry",
                   api_version = "2019-05-01-preview", user_agent = "ua",
                   audience = "https://management.azure.com",
                   authority_host = "https://login.microsoftonline.com" })[k]
      raises("^bad argument #1 to 'acr%.client' %(option '" .. k .. "' must not contain a NUL byte%)$",
             acr.client, base{ [k] = v .. "\0-x" })
    end
    raises("option 'endpoint' must not contain a NUL byte", acr.client,
           base{ endpoint = "http://127.0.0.1:9\0.evil.example" })
    raises("option 'cloud' must not contain a NUL byte", acr.client,
           base{ endpoint = false, cloud = "AzureCloud\0x" })
  end)

  it("refuses a NUL byte in names and references given as arguments", function()
    local c = acr.client(base())
    raises("bad argument #2 to '.-' %(string must not contain a NUL byte%)", c.delete_token, c, "prod-token\0-temp")
    raises("bad argument #2 .*NUL byte", c.get_scope_map, c, "prod-map\0-x")
    raises("bad argument #2 .*NUL byte", c.begin_delete_scope_map, c, "prod-map\0-x")
    raises("bad argument #2 .*NUL byte", c.enable_token, c, "prod-token\0-x")
    raises("bad argument #2 .*NUL byte", c.prepare, c, "get_token\0x", "abcde")
    -- references by name inside bodies
    raises("scope map name must not contain a NUL byte", c.create_token, c, "abcde",
           { scope_map = "prod-map\0-x" })
    raises("token name must not contain a NUL byte", c.generate_credentials, c,
           { token = "prod-token\0-x" })
    raises("field 'status' must not contain a NUL byte", c.update_token, c, "abcde",
           { status = "enabled\0x" })
    -- client:request / client:pages
    raises("bad argument #3 .*NUL byte", c.request, c, "GET", "/x\0/y")
    raises("bad argument #2 .*NUL byte", c.pages, c, "/x\0/y")
    raises("option 'query'", c.request, c, "GET", "/x", { query = { a = "1\0&b=2" } })
    raises("option 'query'", c.request, c, "GET", "/x", { query = { ["a\0b"] = "1" } })
    raises("option 'query'", c.pages, c, "/x", { query = { a = "1\0" } })
    raises("option 'headers'", c.request, c, "GET", "/x", { headers = { ["x-a"] = "v\0w" } })
    raises("option 'headers'", c.request, c, "GET", "/x", { headers = { ["x-a\0b"] = "v" } })
    raises("option 'final_state_via' must not contain a NUL byte", c.request, c, "GET",
           "/x", { final_state_via = "location\0x" })
    raises("option 'items' must not contain a NUL byte", c.pages, c, "/x", { items = "value\0x" })
    raises("option 'api_version'", c.request, c, "GET", "/x", { api_version = "2019\0x" })
    assert.are.equal(0, c:connections())
  end)

  it("refuses a NUL byte in credential options", function()
    raises("^bad argument #1 to 'acr%.credential%.client_secret' %(option 'tenant_id' must not contain a NUL byte%)$",
           acr.credential.client_secret,
           { tenant_id = TENANT .. "\0x", client_id = "c", client_secret = "s" })
    raises("option 'client_secret' must not contain a NUL byte", acr.credential.client_secret,
           { tenant_id = TENANT, client_id = "c", client_secret = "s\0t" })
    raises("option 'tenant_id' must not contain a NUL byte", acr.credential.azure_cli,
           { tenant_id = "t\0x" })
    raises("bad argument #1 .*token must not contain a NUL byte", acr.credential.static, "tok\0en")
  end)

  it("refuses header injection through user_agent", function()
    raises("option 'user_agent' must be one line", acr.client,
           base{ user_agent = "x\r\nX-Injected: yes" })
    raises("option 'user_agent' must be one line", acr.client, base{ user_agent = "x\nX: y" })
    raises("option 'user_agent' must be one line", acr.client, base{ user_agent = "x\1" })
    assert.matches("^my%-runbook/2%.0 lua%-acr/",
                   acr.client(base{ user_agent = "my-runbook/2.0" }):prepare("get_token", "abcde"):next_request().headers["User-Agent"])
  end)

  it("refuses reserved, malformed and duplicate names and multi-line values in headers=", function()
    local c = acr.client(base())
    local function bad(h, pattern)
      raises("option 'headers'" .. (pattern or ""), c.request, c, "GET", "/x", { headers = h })
      raises("option 'headers'" .. (pattern or ""), c.prepare, c, "request", "GET", "/x", { headers = h })
    end
    bad({ Host = "evil.example" }, " may not set Host")
    bad({ host = "evil.example" }, " may not set host")
    for _, n in ipairs{ "Content-Length", "transfer-encoding", "Connection", "TE", "Upgrade",
                        "Proxy-Authorization", "Expect", "Keep-Alive" } do
      bad({ [n] = "1" }, " may not set " .. n:gsub("%-", "%%-") .. " %(the transport sets it%)")
    end
    -- a caller's own request id is taken (it becomes op:request_id()), but it is one visible word
    for _, id in ipairs{ "", "a b", "id\tx", "caf\195\169", ("i"):rep(129) } do
      bad({ ["X-MS-Client-Request-Id"] = id }, " x%-ms%-client%-request%-id must be 1 to 128 visible")
    end
    bad({ ["x-ms-client-request-id"] = "id\r\nX-Injected: yes" }, " must map header names %(tokens%)")
    bad({ ["x-ms-client-request-id "] = "id" }, " must map header names %(tokens%)")
    bad({ ["user-agent"] = "dup" }, " may not set user%-agent: User%-Agent comes from")
    bad({ Authorization = "Bearer x" }, " may not set Authorization: Authorization comes from the credential")
    bad({ ["X Spaced"] = "v" })
    bad({ ["X-A:"] = "v" })
    bad({ [""] = "v" })
    bad({ ["X(A)"] = "v" })
    bad({ ["x-a"] = "v\r\nX-Injected: yes" })
    bad({ ["x-a"] = "v\nX-Injected: yes" })
    bad({ ["x-a"] = "v\rw" })
    bad({ ["X-Custom"] = "1", ["x-custom"] = "2" }, " gives header '.-' twice")
    -- tokens and tabs are fine; Accept and Content-Type replace the core's
    local op = c:prepare("request", "GET", "/x", { headers = { ["X-Ok!#$%&'*+.^_`|~9"] = "a\tb",
                                                              Accept = "text/plain" } })
    local req = op:next_request()
    assert.are.equal("a\tb", req.headers["X-Ok!#$%&'*+.^_`|~9"])
    assert.are.equal(op:request_id(), req.headers["x-ms-client-request-id"])
    assert.are.equal(0, c:connections())
  end)

  it("allows only [0-9A-Za-z.-] in api_version", function()
    for _, v in ipairs{ "2019-05-01\r\nX-Injected: yes", "2019-05-01&x=1", "2019-05-01#f",
                        "2019 05", "2019/05", "2019%2605" } do
      raises("option 'api_version' may contain only letters, digits, '%.' and '%-'",
             acr.client, base{ api_version = v })
      local c = acr.client(base())
      raises("option 'api_version'", c.request, c, "GET", "/x", { api_version = v })
      raises("option 'api_version'", c.pages, c, "/x", { api_version = v })
    end
    local c = acr.client(base{ api_version = "2023-01-01-preview" })
    assert.matches("api%-version=2023%-01%-01%-preview$", c:prepare("get_token", "abcde"):next_request().url)
  end)

  it("takes only scheme://host[:port][/] as endpoint", function()
    for _, ep in ipairs{ "https://example.com/?q=1", "https://example.com#frag",
                         "https://example.com/#frag", "https://example.com?x",
                         "https://example.com/prefix", "https://example.com/a/b/",
                         "http://127.0.0.1:9/x?y#z" } do
      raises("option 'endpoint' must be scheme://host%[:port%] only", acr.client, base{ endpoint = ep })
    end
    raises("option 'endpoint'", acr.client, base{ endpoint = "https://user@example.com" })
    raises("option 'endpoint'", acr.client, base{ endpoint = "https://user:pw@example.com/" })
    assert.are.equal("https://example.com:8443", acr.client(base{ endpoint = "https://example.com:8443/" }):endpoint())
    assert.are.equal("http://[::1]:9", acr.client(base{ endpoint = "http://[::1]:9" }):endpoint())
  end)

  it("applies the OpenAPI name rules to resource_group and subscription_id", function()
    for _, rg in ipairs{ ".", "..", "rg.", "a b", "a/b", "a?b", "a#b", "a%2Fb", "a&b", "a\tb",
                         ("a"):rep(91), "é" } do
      raises("option 'resource_group' is not a valid resource group name", acr.client,
             base{ resource_group = rg })
    end
    for _, rg in ipairs{ "a", "rg-1_x.y(z)", ".a", ("a"):rep(90) } do
      assert.is_true((pcall(acr.client, base{ resource_group = rg })), rg)
    end
    for _, sub in ipairs{ "a b", "a.b", "..", "a&b", "x_y", ("a"):rep(65) } do
      raises("option 'subscription_id' is not a valid subscription id", acr.client,
             base{ subscription_id = sub })
    end
    assert.is_true((pcall(acr.client, base{ subscription_id = "00000000-0000-0000-0000-000000000001" })))
  end)

  it("refuses NaN, infinite and huge durations, naming the option", function()
    local nan, inf = 0 / 0, math.huge
    for _, k in ipairs{ "timeout", "connect_timeout", "poll_interval", "lro_timeout" } do
      raises("option '" .. k .. "' must be a finite number", acr.client, base{ [k] = nan })
      raises("option '" .. k .. "' must be a finite number", acr.client, base{ [k] = inf })
      raises("option '" .. k .. "' must be a finite number", acr.client, base{ [k] = -inf })
      raises("option '" .. k .. "' must be .* at most 604800", acr.client, base{ [k] = 1e300 })
      raises("option '" .. k .. "' must be .* at most 604800", acr.client, base{ [k] = 604800.5 })
      assert.is_true((pcall(acr.client, base{ [k] = 604800 })), k)
    end
    for _, k in ipairs{ "base_delay", "max_delay", "max_retries" } do
      local must = k == "max_retries" and "must be a whole number from 0 to 20" or "must be a finite number"
      raises("option 'retry%." .. k .. "' " .. must, acr.client, base{ retry = { [k] = nan } })
      raises("option 'retry%." .. k .. "' " .. must, acr.client, base{ retry = { [k] = inf } })
      raises("option 'retry%." .. k .. "' must be", acr.client, base{ retry = { [k] = 1e300 } })
    end
    raises("option 'retry' must be a whole number", acr.client, base{ retry = nan })
    raises("option 'retry' must be a whole number", acr.client, base{ retry = inf })
  end)

  it("refuses NaN, infinite and huge timeouts of credentials and of client:request", function()
    local nan, inf = 0 / 0, math.huge
    for _, v in ipairs{ nan, inf, -inf, 1e300, 0, -1 } do
      raises("^bad argument #1 to 'acr%.credential%.azure_cli' %(option 'timeout' must be",
             acr.credential.azure_cli, { timeout = v })
      local c = acr.client(base())
      raises("^bad argument #4 to 'request' %(option 'timeout' must be", c.request, c, "GET", "/x", { timeout = v })
      raises("option 'timeout'", c.prepare, c, "request", "GET", "/x", { timeout = v })
    end
    assert.is_true((pcall(acr.credential.azure_cli, { timeout = 604800 })))
  end)
end)

describe("misuse sends nothing #emulator", function()
  local em
  setup(function() em = helpers.start_emulator{} end)
  teardown(function() if em then em:stop() end end)
  before_each(function() em:reset() end)

  local function total() return em:stats().total end

  it("delete_token with a NUL byte raises and the shorter-named token survives", function()
    local c = ch.client(em)
    assert(c:create_scope_map("prod-map", { actions = { "repositories/app/content/read" } }))
    assert(c:create_token("prod-token", { scope_map = "prod-map" }))
    local before = total()
    raises("bad argument #2 .*NUL byte", c.delete_token, c, "prod-token\0-temp")
    raises("bad argument #2 .*NUL byte", c.begin_delete_token, c, "prod-token\0-temp")
    raises("NUL byte", c.delete_scope_map, c, "prod-map\0-x")
    raises("NUL byte", c.request, c, "DELETE", em:registry_path(ch.SUB, ch.RG, ch.REG) .. "/tokens/prod-token\0-x")
    assert.are.equal(before, total())
    local tok = assert(c:get_token("prod-token"))
    assert.are.equal("prod-token", tok.name)
    assert(c:get_scope_map("prod-map"))
  end)

  it("scope map actions ACR refuses raise at once, naming the action, and send nothing", function()
    local c = ch.client(em)
    local sm = assert(c:create_scope_map("act-map", { actions = { "repositories/app/content/read" } }))
    local before = total()
    for _, a in ipairs {
      "a", "a/b", "repositories/app", "repositories/app/", "repositories/app/content/read/",
      "repositories/app/content/list", "repositories/app/contentRead", "repositories/App/content/read",
      "repositories//content/read", "repositories/team//app/content/read", "repositories/-app/content/read",
      "repositories/app./content/read", "repositories/a b/content/read", "repositories/app*/content/read",
      "repositories/*/app/content/read", "repositories/team/*/*/content/read",
      "repositories/" .. ("r"):rep(257) .. "/content/read", "Repositories/app/content/read",
      "gateway/edge1/config/delete", "gateway/edge/config/read", "gateway/edge-1/message/read",
      "gateway/edge1/content/read", "gateway/" .. ("g"):rep(51) .. "/config/read",
    } do
      local pat = "bad argument #3 to '[^']*' %(field 'actions' item 2 '" .. a:gsub("%p", "%%%0")
        .. "' is not a scope map action"
      raises(pat, c.create_scope_map, c, "new-map", { actions = { "repositories/ok/content/read", a } })
      raises(pat, c.begin_create_scope_map, c, "new-map", { actions = { "repositories/ok/content/read", a } })
      raises(pat, c.update_scope_map, c, "act-map", { actions = { "repositories/ok/content/read", a } })
      raises("bad argument #2 to '[^']*' %(field 'actions' item 1 '", sm.update, sm, { actions = { a } })
    end
    assert.are.equal(before, total())
    assert.are.same({ "repositories/app/content/read" }, assert(c:get_scope_map("act-map")).actions)
    assert.is_nil((c:get_scope_map("new-map")))
  end)

  it("sends the scope map actions ACR accepts, repository paths and wildcards included", function()
    local c = ch.client(em)
    local good = {
      "repositories/app/content/read", "repositories/app/content/write", "repositories/app/content/delete",
      "repositories/app/metadata/read", "repositories/app/metadata/write", "repositories/team/app/content/read",
      "repositories/a.b_c-d/x9/metadata/read", "repositories/a/content/read", "repositories/*/content/read",
      "repositories/team/*/content/write", "repositories/" .. ("r"):rep(256) .. "/content/read",
      "gateway/edge1/config/read", "gateway/edge1/config/write", "gateway/EdgeGw2/message/read",
      "gateway/edge1/message/write",
    }
    local sm = assert(c:create_scope_map("good-map", { actions = good }))
    assert.are.same(good, sm.actions)
    assert(sm:update { actions = { "repositories/team/sub/*/metadata/read" } })
    assert.are.same({ "repositories/team/sub/*/metadata/read" }, assert(c:get_scope_map("good-map")).actions)
  end)

  it("header misuse in client:request sends no request", function()
    local c = ch.client(em)
    local before = total()
    for _, h in ipairs{ { Host = "evil.example" }, { ["X Spaced"] = "v" },
                        { ["x-ms-client-request-id"] = "id\r\nX: y" }, { ["x-a"] = "v\r\nX-Injected: yes" },
                        { ["Content-Length"] = "0" }, { ["x-a"] = "v\0w" } } do
      assert.is_false((pcall(c.request, c, "GET", "/subscriptions/" .. ch.SUB, { headers = h })))
    end
    assert.is_false((pcall(c.request, c, "GET", "/subscriptions/" .. ch.SUB, { timeout = 0 / 0 })))
    assert.is_false((pcall(c.request, c, "GET", "/subscriptions/" .. ch.SUB, { api_version = "1&x=2" })))
    assert.are.equal(before, total())
    assert.is_false((pcall(ch.client, em, { user_agent = "x\r\nX-Injected: yes" })))
    assert.is_false((pcall(ch.client, em, { endpoint = em.url .. "/?x=1#f" })))
    assert.is_false((pcall(ch.client, em, { resource_group = ".." })))
    assert.is_false((pcall(ch.client, em, { timeout = math.huge })))
    assert.are.equal(before, total())
  end)
end)

-- pager:take(op) takes the page of the operation the pager handed out as its current
-- next_operation(), once: an operation of another pager, one taken already or one a later
-- next_operation() (or next_page()) superseded is misuse, and it leaves the pager as it was.
describe("pager:take misuse #unit", function()
  local cjson = require "cjson"
  local REG = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myregistry"
  local c = acr.client(base{ retry = 0 })

  local function page(names, next_link)
    local value = {}
    for i, n in ipairs(names) do
      value[i] = { id = REG .. "/tokens/" .. n, name = n, properties = { status = "enabled" } }
    end
    return cjson.encode{ value = value, nextLink = next_link }
  end
  local function answer(op, names, next_link)
    op:feed(200, { ["content-type"] = "application/json" }, page(names, next_link))
    assert.is_true(op:done())
    return op
  end
  local function names(items)
    local t = {}
    for i, tok in ipairs(items) do t[i] = tok.name end
    return t
  end
  local NOT_CURRENT = "bad argument #2 to '.-' %(not the operation this pager's last next_operation%(%) returned"

  it("refuses another pager's operation, and its own pager still takes it whole", function()
    local p1, p2 = c:tokens(), c:tokens()
    local op = answer(p1:next_operation(), { "token-one", "token-two" }, REG .. "/tokens?page=2")
    raises(NOT_CURRENT, p2.take, p2, op)
    assert.matches("0 pages read%)", tostring(p2))
    assert.are.same({ "token-one", "token-two" }, names(assert(p1:take(op))))
    assert.matches("1 pages read%)", tostring(p1))
  end)

  it("refuses the same operation twice, handing its items out once", function()
    local p = c:tokens()
    local op = answer(p:next_operation(), { "token-one" }, REG .. "/tokens?page=2")
    assert.are.same({ "token-one" }, names(assert(p:take(op))))
    raises(NOT_CURRENT, p.take, p, op)
    assert.matches("1 pages read%)", tostring(p))
    local nxt = p:next_operation()
    assert.matches("page=2", nxt:next_request().url)
    assert.are.same({ "token-two" }, names(assert(p:take(answer(nxt, { "token-two" })))))
    assert.matches("2 pages read, done", tostring(p))
  end)

  it("refuses an operation a later next_operation() or next_page() superseded", function()
    local p = c:tokens()
    local old = answer(p:next_operation(), { "token-old" })
    local new = answer(p:next_operation(), { "token-new" })
    raises(NOT_CURRENT, p.take, p, old)
    assert.are.same({ "token-new" }, names(assert(p:take(new))))
    local q = c:tokens()
    local stale = q:next_operation()
    local items, err = q:next_page()   -- nothing listens on the endpoint
    assert.is_nil(items)
    assert.are.equal("ConnectionFailed", err.code)
    raises(NOT_CURRENT, q.take, q, answer(stale, { "token-stale" }))
  end)

  it("refuses an operation that is no pager's and a value that is no operation", function()
    local p = c:tokens()
    local pending = p:next_operation()
    raises(NOT_CURRENT, p.take, p, answer(c:prepare("request", "GET", "/x"), {}))
    raises("bad argument #2 to '.-' %(acr%.Operation expected", p.take, p, "op")
    raises("bad argument #2 to '.-' %(acr%.Operation expected", p.take, p)
    assert.are.same({ "token-one" }, names(assert(p:take(answer(pending, { "token-one" })))))
  end)

  it("drives its own unfinished operation to the end, as op:result() does", function()
    local p = c:tokens()
    local op = p:next_operation()
    assert.is_false(op:done())
    local items, err = p:take(op)   -- nothing listens on the endpoint
    assert.is_nil(items)
    assert.are.equal("ConnectionFailed", err.code)
    assert.is_true(op:done())
    assert.matches("done", tostring(p))
    raises(NOT_CURRENT, p.take, p, op)
  end)
end)
