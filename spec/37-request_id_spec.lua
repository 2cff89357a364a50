-- A caller's own x-ms-client-request-id, and every other header given for a call, goes
-- on each request of the operation: the first, every poll, the final GET and retries
-- (issue 11, item 5).
local ch = require "client_helpers"
local acr = require "acr"

local ID = "runbook-7f3a-42"
local ACCEPT = "application/json; odata=nometadata"

describe("the caller's request id #emulator", function()
  local em, client

  local start, stop, fresh = ch.suite({ retry_after = 0, polls = 2 },
    nil,
    { lro_style = "async", polls = 2, retry_after = 0, latency_ms = 0 },
    function(e, c) em, client = e, c end)
  setup(start)
  teardown(stop)
  before_each(fresh)

  local function headers() return { ["X-MS-Client-Request-Id"] = ID, Accept = ACCEPT } end

  -- every request logged since mark carries the caller's id and Accept; their kinds
  local function all_carry(mark)
    local kinds = {}
    for _, e in ipairs(ch.log_since(em, mark)) do
      assert.are.equal(ID, e.client_request_id, e.kind)
      assert.are.equal(ACCEPT, e.accept, e.kind)
      kinds[#kinds + 1] = e.kind
    end
    return kinds
  end

  it("goes on the first request, each poll and the final GET (Azure-AsyncOperation)", function()
    local url = em:registry_path() .. "/scopeMaps/" .. ch.unique("rid")
    local lines = {}
    local c = ch.client(em, { logger = function(_, line) lines[#lines + 1] = line end })
    local mark = ch.log_mark(em)
    local op = c:begin_request("PUT", url, { body = { properties = { actions = { "repositories/a/content/read" } } },
                                              lro = true, headers = headers() })
    assert.are.equal(ID, op:request_id())
    local res = assert(op:wait())
    assert.are.equal(200, res.status)
    local kinds = all_carry(mark)
    assert.are.same({ "PUT scopeMap", "GET operationStatus", "GET operationStatus",
                      "GET operationStatus", "GET scopeMap" }, kinds)
    assert.are.equal(#kinds, #lines)
    for _, l in ipairs(lines) do assert.truthy(l:find(ID, 1, true), l) end
    c:close()
  end)

  it("goes on the polls of Location and on retries", function()
    em:settings{ lro_style = "location", polls = 1 }
    local sm = assert(client:create_scope_map(ch.unique("rid"), { actions = { "repositories/a/content/read" } }))
    local url = em:registry_path() .. "/scopeMaps/" .. sm.name
    assert(em:admin("POST", "inject", { path = "/operationResults/", method = "GET", status = 503,
                                        body = '{"error":{"code":"ServiceUnavailable","message":"busy"}}' }))
    local mark = ch.log_mark(em)
    local res = assert(client:request("DELETE", url, { lro = true, headers = headers() }))
    assert.are.equal(200, res.status)
    local kinds = all_carry(mark)
    assert.are.same({ "DELETE scopeMap", "GET injected", "GET operationResult", "GET operationResult" },
                    kinds)
  end)

  it("is the error's client_request_id; request_id stays ARM's own", function()
    local mark = ch.log_mark(em)
    local res, err = client:request("GET", em:registry_path() .. "/tokens/no-such-token",
                                    { headers = headers() })
    assert.is_nil(res)
    assert.are.equal(404, err.status)
    assert.are.equal(ID, err.client_request_id)
    assert.is_string(err.request_id)
    assert.are_not.equal(ID, err.request_id)
    assert.are.same({ "GET token" }, all_carry(mark))
  end)
end)

describe("the caller's headers, replayed #unit", function()
  local EP = "https://management.azure.com"
  local function client()
    return acr.client{ subscription_id = "s", resource_group = "rg", registry = "myRegistry",
                       credential = acr.credential.static("t"), poll_interval = 0 }
  end

  -- the headers of a request, with the names of the core's ones compared case-insensitively
  local function check(req)
    local ids = 0
    for k, v in pairs(req.headers) do
      if k:lower() == "x-ms-client-request-id" then
        ids = ids + 1
        assert.are.equal("r-1", v)
      end
    end
    assert.are.equal(1, ids)               -- sent once, not beside a generated one
    assert.are.equal("trace-9", req.headers["X-Trace"])
  end

  it("are on the first request, the poll and the final GET", function()
    local op = client():prepare("request", "PUT", "/subscriptions/s/x", { lro = true, body = "{}",
      headers = { ["x-ms-client-request-id"] = "r-1", ["X-Trace"] = "trace-9" } })
    assert.are.equal("r-1", op:request_id())
    local req = assert(op:next_request())
    check(req)
    op:feed(201, { ["azure-asyncoperation"] = EP .. "/status/1" }, '{"properties":{}}')
    req = assert(op:next_request())
    assert.are.equal(EP .. "/status/1", req.url)
    check(req)
    op:feed(200, {}, '{"status":"Succeeded"}')
    req = assert(op:next_request())
    assert.are.equal("GET", req.method)
    assert.matches("/subscriptions/s/x%?", req.url)
    check(req)
    op:feed(200, {}, '{"id":"x"}')
    assert.is_nil(op:next_request())
    assert.are.equal("x", assert(op:result()).body.id)
  end)

  it("an operation without one still gets an id of its own, kept across polls", function()
    local op = client():prepare("request", "DELETE", "/subscriptions/s/x", { lro = true })
    local id = op:request_id()
    assert.matches("^%x+%-%x+%-4%x+%-%x+%-%x+$", id)
    assert.are.equal(id, assert(op:next_request()).headers["x-ms-client-request-id"])
    op:feed(202, { location = EP .. "/loc/1" }, nil)
    assert.are.equal(id, assert(op:next_request()).headers["x-ms-client-request-id"])
  end)
end)
