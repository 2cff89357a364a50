-- One reader of URLs decides where a request goes (src/url.c). A nextLink, Location or
-- Azure-AsyncOperation is followed only when its host is literally the endpoint's,
-- after lower-casing and the default port: spellings that libcurl would read as the
-- same address ("127.1", "0x7f000001", ...) are refused, because acr.resty would connect
-- to the literal name. Relative references resolve against the URL of the request
-- that returned them (RFC 3986), and a network-path reference "//host/x" goes through
-- the same origin check.
local ch = require "client_helpers"
local acr = require "acr"
local cjson = require "cjson"

-- Spellings of 127.0.0.1 that other URL readers normalise to it.
local LOOPBACK_SPELLINGS = {
  "127.1", "2130706433", "0x7f000001", "0177.0.0.1", "127.0.0.01", "127%2e0%2e0%2e1",
  "127.0.0.1.",
}

describe("URLs the server sends #emulator", function()
  local em, client, port, path
  local function inject(t) return assert(em:admin("POST", "inject", t)) end

  local start, stop, fresh = ch.suite({ retry_after = 0, polls = 1 },
    { retry = { max_retries = 0 } },
    { lro_style = "realistic", polls = 1, retry_after = 0, latency_ms = 0 },
    function(e, c)
      em, client = e, c
      port = em.url:match(":(%d+)$")
      path = em:registry_path()
    end)
  setup(start)
  teardown(stop)
  before_each(fresh)

  local function first_page(next_link)
    inject{ path = "/tokens", method = "GET", status = 200,
            body = cjson.encode{ value = {}, nextLink = next_link } }
  end

  local function token_page(name, next_link)
    return cjson.encode{ value = { { id = path .. "/tokens/" .. name, name = name,
                                     properties = { status = "enabled" } } },
                         nextLink = next_link }
  end

  for _, host in ipairs(LOOPBACK_SPELLINGS) do
    it("refuses a nextLink on " .. host .. ", another spelling of the endpoint's host", function()
      first_page("http://" .. host .. ":" .. port .. path .. "/tokens?$skipToken=x")
      local pager = client:tokens()
      assert.are.same({}, assert(pager:next_page()))   -- its page is handed out first
      local items, err = pager:next_page()
      assert.is_nil(items)
      assert.are.equal("UntrustedHost", err.code)
      assert.are.equal(1, #em:log())       -- the link was never requested
    end)
  end

  it("names the host of a foreign nextLink", function()
    first_page("https://evil.example:8443/tokens?$skipToken=x")
    local pager = client:tokens()
    assert(pager:next_page())
    local _, err = pager:next_page()
    assert.are.equal("UntrustedHost", err.code)
    assert.matches("evil%.example", err.message)
  end)

  it("refuses a network-path nextLink to another host, and follows one to its own", function()
    first_page("//evil.example" .. path .. "/tokens?$skipToken=x")
    local pager = client:tokens()
    assert(pager:next_page())
    local _, err = pager:next_page()
    assert.are.equal("UntrustedHost", err.code)
    assert.matches("evil%.example", err.message)
    assert.are.equal(1, #em:log())

    em:reset()
    inject{ path = "/tokens", method = "GET", query = "skipToken", status = 200,
            body = token_page("tok-b") }
    inject{ path = "/tokens", method = "GET", status = 200,
            body = token_page("tok-a", "//127.0.0.1:" .. port .. path .. "/tokens?$skipToken=abc") }
    local names = {}
    for t in client:tokens() do names[#names + 1] = t.name end
    assert.are.same({ "tok-a", "tok-b" }, names)
  end)

  it("resolves a relative-path nextLink against the page's URL", function()
    inject{ path = "/tokens", method = "GET", query = "skipToken", status = 200,
            body = token_page("tok-b") }
    inject{ path = "/tokens", method = "GET", status = 200,
            body = token_page("tok-a", "tokens?$skipToken=abc") }
    local names = {}
    for t in client:tokens() do names[#names + 1] = t.name end
    assert.are.same({ "tok-a", "tok-b" }, names)
    local log = em:log()
    assert.are.equal(2, #log)
    assert.are.equal(path .. "/tokens", log[2].path)
    assert.matches("skipToken=abc", log[2].query)
    assert.matches("api%-version=2019%-05%-01%-preview", log[2].query)
  end)

  it("hands out a page's items before failing on its unusable nextLink", function()
    inject{ path = "/tokens", method = "GET", status = 200, times = 2,
            body = token_page("tok-a", "https://evil.example/tokens?$skipToken=x") }
    local pager = client:tokens()
    local items = assert(pager:next_page())
    assert.are.equal("tok-a", items[1].name)
    local none, err = pager:next_page()
    assert.is_nil(none)
    assert.are.equal("UntrustedHost", err.code)
    assert.matches("evil%.example", err.message)
    assert.is_nil(pager:next_page())                  -- and then the end
    local names = {}
    local ok, ierr = pcall(function()
      for t in client:tokens() do names[#names + 1] = t.name end
    end)
    assert.is_false(ok)
    assert.are.equal("UntrustedHost", ierr.code)
    assert.are.same({ "tok-a" }, names)               -- handed out once, before the error
  end)

  for _, host in ipairs{ "127.1", "0x7f000001" } do
    it("refuses a Location on " .. host .. " and sends nothing there", function()
      local sm = assert(client:create_scope_map(ch.unique("url"),
                                                { actions = { "repositories/a/content/read" } }))
      local before = #em:log()
      inject{ path = "/scopeMaps/" .. sm.name, method = "DELETE", status = 202,
              headers = { Location = "http://" .. host .. ":" .. port .. path .. "/scopeMaps/" .. sm.name } }
      local ok, err = client:delete_scope_map(sm.name)
      assert.is_nil(ok)
      assert.are.equal("UntrustedHost", err.code)
      assert.are.equal(before + 1, #em:log())
    end)
  end
end)

describe("URLs in replayed answers", function()
  local REG = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myRegistry"
  local EP = "https://management.azure.com"
  local client = acr.client{
    subscription_id = "s", resource_group = "rg", registry = "myRegistry",
    credential = acr.credential.static("t"), poll_interval = 0,
  }

  -- The request a DELETE of scope map m1 sends after a 202 with these headers.
  local function after_202(headers)
    local op = client:prepare("delete_scope_map", "map01")
    assert(op:next_request())
    op:feed(202, headers, "")
    return op:next_request(), op
  end

  local cases = {
    { "operationResults/1?x=1", EP .. REG .. "/scopeMaps/operationResults/1?x=1" },
    { "../operationResults/1#frag", EP .. REG .. "/operationResults/1" },
    { "/subscriptions/s/operationResults/2", EP .. "/subscriptions/s/operationResults/2" },
    { "//MANAGEMENT.azure.com:443/a/./b/../c", EP .. "/a/c" },
    { "HTTPS://Management.Azure.Com/abs", EP .. "/abs" },
  }
  for _, c in ipairs(cases) do
    it("polls a Location of " .. c[1] .. " at " .. c[2], function()
      local req = after_202{ location = c[1] }
      assert.are.equal(c[2], req.url)
      assert.are.equal("Bearer t", req.headers.Authorization)
    end)
    it("polls an Azure-AsyncOperation of " .. c[1] .. " at " .. c[2], function()
      local req = after_202{ ["azure-asyncoperation"] = c[1] }
      assert.are.equal(c[2], req.url)
    end)
  end

  for _, loc in ipairs{ "//evil.example/x", "https://management.azure.com.evil.example/x",
                        "https://management.azure.com@evil.example/x",
                        "https://management.azure.com\\@evil.example/x",
                        "https://management%2eazure.com/x", "https://management.azure.com:/x",
                        "https://[::ffff:7f00:1]/x", "http:x" } do
    it("fails on a Location of " .. loc .. " and sends nothing", function()
      local req, op = after_202{ location = loc }
      assert.is_nil(req)
      local r, err = op:result()
      assert.is_nil(r)
      assert.are.equal("UntrustedHost", err.code)
    end)
  end

  it("sends the endpoint in the canonical form it was checked in", function()
    local c = acr.client{
      subscription_id = "s", resource_group = "rg", registry = "myRegistry",
      credential = acr.credential.static("t"), endpoint = "HTTPS://Management.Azure.COM:443/",
    }
    assert.are.equal(EP, c:endpoint())
    local req = c:prepare("get_token", "abcde"):next_request()
    assert.are.equal(EP .. REG .. "/tokens/abcde?api-version=2019-05-01-preview", req.url)
  end)

  it("refuses a raw request to another spelling of the endpoint's host", function()
    local c = acr.client{
      subscription_id = "s", resource_group = "rg", registry = "myRegistry",
      credential = acr.credential.static("t"), endpoint = "http://127.0.0.1:9",
    }
    for _, host in ipairs(LOOPBACK_SPELLINGS) do
      ch.raises("bad argument", function() c:prepare("request", "GET", "http://" .. host .. ":9/x") end)
    end
  end)
end)
