-- Answers a long-running operation cannot use end it with an error that names the
-- problem and carries the HTTP status, and nothing more is sent (issue 11, item 4):
-- a 201 with no body and nothing to poll, a 200 that is not JSON, a status poll or a
-- final GET that is not JSON.
local ch = require "client_helpers"
local acr = require "acr"

local HTML = "<html><body><h1>200 OK</h1>proxy page</body></html>"

describe("answers an LRO cannot use #emulator", function()
  local em, client
  local function inject(t) return assert(em:admin("POST", "inject", t)) end

  local start, stop, fresh = ch.suite({ retry_after = 0, polls = 1 },
    nil,
    { lro_style = "realistic", polls = 1, retry_after = 0, latency_ms = 0 },
    function(e, c) em, client = e, c end)
  setup(start)
  teardown(stop)
  before_each(fresh)

  local function new_map()
    return assert(client:create_scope_map(ch.unique("lra"), { actions = { "repositories/a/content/read" } }))
  end

  -- Runs begin_<call>, waits for its end and checks that the operation sent exactly
  -- `sent` requests and wants no more; returns the error.
  local function fails(sent, call, ...)
    local mark = ch.log_mark(em)
    local op = client["begin_" .. call](client, ...)
    local v, err = op:wait()
    assert.is_nil(v)
    assert.is_true(acr.is_error(err), tostring(err))
    assert.is_true(op:done())
    assert.are.equal("Failed", op:status())
    assert.is_nil(op:next_request())
    assert.are.equal(sent, #ch.log_since(em, mark))
    return err
  end

  -- call, arguments, the method and path part an injection matches
  local calls = {
    { "create_scope_map", function() return ch.unique("lrc"), { actions = { "repositories/a/content/read" } } end, "PUT", "/scopeMaps/" },
    { "update_scope_map", function() return new_map().name, { description = "x" } end, "PATCH", "/scopeMaps/" },
    { "delete_scope_map", function() return new_map().name end, "DELETE", "/scopeMaps/" },
    { "create_token", function() return ch.unique("lrt"), { scope_map = new_map() } end, "PUT", "/tokens/" },
    { "update_token", function() return "tok-gone", { status = "disabled" } end, "PATCH", "/tokens/" },
    { "delete_token", function() return "tok-gone" end, "DELETE", "/tokens/" },
  }

  for _, c in ipairs(calls) do
    local call, args, method, path = c[1], c[2], c[3], c[4]

    it(call .. ": a 201 with no body and no polling header is InvalidLroResponse", function()
      local a, b = args()
      inject{ path = path, method = method, status = 201, body = "",
              headers = { ["x-ms-request-id"] = "req-201" } }
      local err = fails(1, call, a, b)
      assert.are.equal("InvalidLroResponse", err.code)
      assert.are.equal(201, err.status)
      assert.are.equal("req-201", err.request_id)
      assert.matches("no resource body and no Azure%-AsyncOperation or Location header", err.message)
    end)

    it(call .. ": a 200 whose body is not JSON is InvalidResponse", function()
      local a, b = args()
      inject{ path = path, method = method, status = 200, body = HTML }
      local err = fails(1, call, a, b)
      assert.are.equal("InvalidResponse", err.code)
      assert.are.equal(200, err.status)
      assert.matches("not JSON", err.message)
    end)
  end

  for _, c in ipairs{ { "create_token", "/tokens/" }, { "update_scope_map", "/scopeMaps/" } } do
    local call, path = c[1], c[2]
    it(call .. ": a final GET whose body is not JSON is InvalidResponse", function()
      em:settings{ lro_style = "async", polls = 0 }
      local a, b
      if call == "create_token" then
        a, b = ch.unique("lrf"), { scope_map = new_map() }
      else
        a, b = new_map().name, { description = "final" }
      end
      -- the status poll (its URL is under the resource's) succeeds, the GET after it is HTML
      inject{ path = "/operationStatuses/", method = "GET", status = 200, body = '{"status":"Succeeded"}' }
      inject{ path = path, method = "GET", status = 200, body = HTML,
              headers = { ["x-ms-correlation-request-id"] = "corr-final" } }
      local err = fails(3, call, a, b)
      assert.are.equal("InvalidResponse", err.code)
      assert.are.equal(200, err.status)
      assert.are.equal("corr-final", err.correlation_id)
      assert.matches("final GET", err.message)
      local log = em:log()
      assert.are.equal("GET injected", log[#log].kind)
      assert.is_nil(log[#log].path:find("operationStatuses", 1, true))
    end)
  end

  it("a status poll whose body is not JSON is InvalidResponse", function()
    local sm = new_map()
    em:settings{ lro_style = "async", polls = 0 }
    inject{ path = "/operationStatuses/", method = "GET", status = 200, body = '{"status":"Runn' }
    local err = fails(2, "create_token", ch.unique("lrp"), { scope_map = sm })
    assert.are.equal("InvalidResponse", err.code)
    assert.are.equal(200, err.status)
    assert.matches("status answer is not JSON", err.message)
  end)

  it("client:request with lro = true: a 200 that is not JSON, an empty 201", function()
    local url = em:registry_path() .. "/scopeMaps/" .. ch.unique("lrr")
    inject{ path = "/scopeMaps/", method = "PUT", status = 200, body = HTML }
    local res, err = client:request("PUT", url, { body = { properties = { actions = { "repositories/a/content/read" } } }, lro = true })
    assert.is_nil(res)
    assert.are.equal("InvalidResponse", err.code)
    assert.are.equal(200, err.status)
    inject{ path = "/scopeMaps/", method = "PUT", status = 201, body = "" }
    res, err = client:request("PUT", url, { body = { properties = { actions = { "repositories/a/content/read" } } }, lro = true })
    assert.is_nil(res)
    assert.are.equal("InvalidLroResponse", err.code)
    assert.are.equal(201, err.status)
    -- without lro, a raw call hands the text back as it came
    inject{ path = "/scopeMaps/", method = "GET", status = 200, body = HTML }
    res = assert(client:request("GET", url))
    assert.are.equal(HTML, res.body)
  end)
end)

describe("answers an LRO cannot use, replayed #unit", function()
  local function client()
    return acr.client{ subscription_id = "s", resource_group = "rg", registry = "myRegistry",
                       credential = acr.credential.static("t"), poll_interval = 0 }
  end

  it("a generate_credentials 201 with no body and nothing to poll is InvalidLroResponse", function()
    local op = client():prepare("generate_credentials", { token = "tok-one" })
    assert(op:next_request())
    op:feed(201, { ["x-ms-request-id"] = "r1" }, nil)
    assert.is_nil(op:next_request())
    local _, err = op:result()
    assert.are.equal("InvalidLroResponse", err.code)
    assert.are.equal(201, err.status)
    assert.are.equal("r1", err.request_id)
  end)

  it("a 202 from DELETE with nothing to poll carries its status", function()
    local op = client():prepare("delete_token", "tok-one")
    assert(op:next_request())
    op:feed(202, {}, nil)
    assert.is_nil(op:next_request())
    local _, err = op:result()
    assert.are.equal("InvalidLroResponse", err.code)
    assert.are.equal(202, err.status)
  end)

  it("a delete answered 200 or 204 with no body is still a success", function()
    for _, st in ipairs{ 200, 204 } do
      local op = client():prepare("delete_scope_map", "map-one")
      assert(op:next_request())
      op:feed(st, {}, nil)
      assert.is_true(assert(op:result()))
    end
  end)
end)
