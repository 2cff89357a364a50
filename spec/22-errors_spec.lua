-- Bad answers from the server get a clear acr.Error and lose nothing: 4xx/5xx, Failed
-- operations, Retry-After, timeouts, dropped connections, malformed or truncated bodies,
-- HTML error pages, and URLs that point at another host.
local ch = require "client_helpers"
local helpers = ch.helpers
local acr = require "acr"

describe("errors #emulator", function()
  local em, client
  local function inject(t) return assert(em:admin("POST", "inject", t)) end
  local function count(kind) return ch.count_requests(em, kind) end

  local start, stop, fresh = ch.suite({ retry_after = 0, polls = 1 },
    { retry = { max_retries = 2, base_delay = 0.01, max_delay = 5 } },
    { lro_style = "realistic", polls = 1, retry_after = 0, latency_ms = 0 },
    function(e, c) em, client = e, c end)
  setup(start)
  teardown(stop)
  before_each(fresh)

  local function new_map()
    return assert(client:create_scope_map(ch.unique("err"), { actions = { "repositories/a/content/read" } }))
  end

  it("returns 404 as ResourceNotFound with ids and a readable message", function()
    local tok, err = client:get_token("missing-token")
    assert.is_nil(tok)
    assert.is_true(acr.is_error(err))
    assert.are.equal(404, err.status)
    assert.are.equal("ResourceNotFound", err.code)
    assert.is_string(err.request_id)
    assert.is_string(err.correlation_id)
    assert.is_false(err.retryable)
    assert.matches("^acr%.Error: ResourceNotFound: .*%(HTTP 404, request id ", tostring(err))
  end)

  it("answers 404 ResourceNotFound for a registry the emulator does not have, on every call", function()
    local typo = ch.client(em, { registry = "emuregistyr" })
    finally(function() typo:close() end)
    local function check(v, err)
      assert.is_nil(v)
      assert.is_true(acr.is_error(err))
      assert.are.equal(404, err.status)
      assert.are.equal("ResourceNotFound", err.code)
      assert.are.equal("The Resource 'Microsoft.ContainerRegistry/registries/emuregistyr' under resource group '"
        .. ch.RG .. "' was not found. For more details please go to https://aka.ms/ARMResourceNotFoundFix", err.message)
      assert.is_false(err.retryable)
    end
    check(typo:get_scope_map("_repositories_pull"))
    check(typo:get_token("some-token"))
    check(typo:create_scope_map("typo-map", { actions = { "repositories/a/content/read" } }))
    check(typo:update_scope_map("typo-map", { description = "d" }))
    check(typo:create_token("typo-token", { scope_map = "_repositories_pull" }))
    check(typo:generate_credentials { token = "typo-token" })
    -- an iterator raises the error; a page at a time returns it
    for _, list in ipairs { "scope_maps", "tokens" } do
      local ok, err = pcall(function() for _ in typo[list](typo) do end end)
      assert.is_false(ok)
      check(nil, err)
      check(typo[list](typo):next_page())
    end
    -- nothing was made under the name, and the seeded registry is untouched
    assert.are.same({ ch.REG }, (function()
      local out = {}
      for i, r in ipairs(em:admin("GET", "registries")) do out[i] = r.name end
      return out
    end)())
    local names = {}
    for sm in client:scope_maps() do names[#names + 1] = sm.name end
    assert.are.same({ "_repositories_admin", "_repositories_pull", "_repositories_push" }, names)
  end)

  it("finds a registry made through /__admin/registries", function()
    local other = ch.client(em, { registry = "madelater" })
    finally(function() other:close() end)
    local _, err = other:get_scope_map("_repositories_pull")
    assert.are.equal(404, err.status)
    assert.is_table(em:add_registry(ch.SUB, ch.RG, "madelater"))
    local sm = assert(other:get_scope_map("_repositories_pull"))
    assert.are.equal(other:registry_id() .. "/scopeMaps/_repositories_pull", sm.id)
    assert(other:create_scope_map("later-map", { actions = { "repositories/a/content/read" } }))
    em:reset()   -- made through the admin call: dropped
    _, err = other:get_scope_map("later-map")
    assert.are.equal("ResourceNotFound", err.code)
    assert.matches("registries/madelater' under resource group", err.message)
  end)

  it("surfaces 401 for a token the service refuses, without retrying a static one", function()
    local c = ch.client(em, { credential = acr.credential.static("not-a-real-token") })
    local tok, err = c:get_token("abcde")
    assert.is_nil(tok)
    assert.are.equal(401, err.status)
    assert.are.equal("InvalidAuthenticationToken", err.code)
    assert.is_nil(tostring(err):find("not-a-real-token", 1, true))
    assert.are.equal(1, count("GET token"))
  end)

  for _, style in ipairs{ "async", "location", "body", "realistic" } do
    it("returns a Failed operation's own code and message (" .. style .. ")", function()
      em:settings{ lro_style = style }
      local sm = new_map()
      local name = ch.unique("fail")
      em:fail_next{ name = name, code = "QuotaExceeded", message = "too many tokens" }
      local tok, err = client:create_token(name, { scope_map = sm })
      assert.is_nil(tok)
      if style == "body" then
        -- provisioningState Failed carries no error of its own
        assert.are.equal("OperationFailed", err.code)
      else
        assert.are.equal("QuotaExceeded", err.code)
        assert.matches("too many tokens", err.message)
      end
    end)
  end

  it("retries a 500 and a dropped connection, then succeeds", function()
    local sm = new_map()
    inject{ path = "/scopeMaps/" .. sm.name, method = "GET", status = 500,
            body = '{"error":{"code":"InternalServerError","message":"boom"}}' }
    assert(client:get_scope_map(sm.name))
    inject{ path = "/scopeMaps/" .. sm.name, method = "GET", drop = true }
    assert(client:get_scope_map(sm.name))
    assert.are.equal(2, count("GET injected"))
    assert.are.equal(2, count("GET scopeMap"))
  end)

  it("gives up after the configured retries with a retryable error", function()
    inject{ path = "/tokens/abcde", status = 503, times = 10, headers = { ["Retry-After"] = "0" },
            body = '{"error":{"code":"ServiceUnavailable","message":"busy"}}' }
    local tok, err = client:get_token("abcde")
    assert.is_nil(tok)
    assert.are.equal(503, err.status)
    assert.are.equal("ServiceUnavailable", err.code)
    assert.is_true(err.retryable)
    assert.are.equal(3, count("GET injected"))  -- the first try and 2 retries
  end)

  it("honours Retry-After before retrying", function()
    inject{ path = "/tokens/abcde", status = 429, headers = { ["Retry-After"] = "1" },
            body = '{"error":{"code":"TooManyRequests","message":"slow down"}}' }
    local _, err = client:get_token("abcde")
    assert.are.equal(404, err.status)   -- the retry reached the real handler
    local log = em:log()
    assert.are.equal(2, #log)
    assert.are.equal(429, log[1].status)
    assert.is_true(log[2].time - log[1].time >= 0.9, "waited " .. (log[2].time - log[1].time))
  end)

  it("does not sleep on a Retry-After above the cap", function()
    inject{ path = "/tokens/abcde", status = 429, headers = { ["Retry-After"] = "3600" },
            body = '{"error":{"code":"TooManyRequests","message":"come back in an hour"}}' }
    local _, err = client:get_token("abcde")
    assert.are.equal(429, err.status)
    assert.is_true(err.retryable)
    assert.are.equal(1, #em:log())
  end)

  it("times out a slow answer", function()
    em:settings{ latency_ms = 1500 }
    local c = ch.client(em, { timeout = 0.2, retry = 0 })
    local _, err = c:get_token("abcde")
    assert.are.equal("Timeout", err.code)
    assert.is_true(err.retryable)
    assert.is_nil(err.status)
    -- The emulator finishes (and logs) the abandoned request later: wait for it, so it
    -- does not land in the next test's request log.
    for _ = 1, 50 do
      if #em:log() > 0 then break end
      helpers.sh("sleep 0.1")
    end
    assert.are.equal(1, #em:log())
  end)

  it("ends an operation that outlives lro_timeout", function()
    local c = ch.client(em, { lro_timeout = 0.3, poll_interval = 0.05 })
    local sm = assert(c:create_scope_map(ch.unique("slow"), { actions = { "repositories/a/content/read" } }))
    em:settings{ lro_style = "async", polls = 1000000, retry_after = 0 }
    local _, err = c:update_scope_map(sm.name, { description = "never" })
    assert.are.equal("Timeout", err.code)
    assert.matches("did not finish within", err.message)
  end)

  it("honours a poll's Retry-After only up to the retry policy's max_delay", function()
    local c = ch.client(em, { retry = { max_delay = 0.5 }, poll_interval = 0.1 })
    em:settings{ lro_style = "async", polls = 5, retry_after = 3600 }
    local op = c:begin_create_scope_map(ch.unique("capped"), { actions = { "repositories/a/content/read" } })
    -- the first request is out (its delay is its timeout) until its answer is in
    for _ = 1, 500 do
      if op:delay() < 1 then break end
      op:wait(0.01)
    end
    assert.is_false(op:done())
    local d = op:delay()
    assert.is_true(d > 0 and d <= 0.5, tostring(d))   -- not an hour
  end)

  it("logs why an exchange failed in transport, not a status of 0", function()
    local lines = {}
    local c = ch.client(em, { retry = { max_retries = 0 },
                              logger = function(level, msg) lines[#lines + 1] = level .. " " .. msg end })
    inject{ path = "/tokens/abcde", drop = true, times = 1 }
    local _, err = c:get_token("abcde")
    assert.are.equal("ConnectionFailed", err.code)
    assert.are.equal(1, #lines)
    assert.matches("^warn GET .*/tokens/abcde%?.* %-> ConnectionFailed: %S.* %(%d+ ms, request id ", lines[1])
    assert.is_nil(lines[1]:find("-> 0 ", 1, true))
    c:close()
  end)

  it("logs each retry with its number and its wait; a 429 waited out says so, with no number", function()
    local lines = {}
    local c = ch.client(em, { retry = { max_retries = 3, base_delay = 0.05, max_delay = 5 },
                              logger = function(level, msg) lines[#lines + 1] = level .. " " .. msg end })
    -- the drop first, on the client's first connection (libcurl itself repeats a request
    -- whose kept-alive connection turns out closed)
    inject{ path = "/tokens/abcde", drop = true, times = 1 }
    inject{ path = "/tokens/abcde", status = 503, times = 2, body = '{"error":{"code":"Busy","message":"busy"}}' }
    local _, err = c:get_token("abcde")
    assert.are.equal(404, err.status)   -- the fourth try reached ARM
    -- each retry's line follows the exchange that led to it; waits of (2^n - 1) * 0.05 s +-20 %
    assert.are.equal(7, #lines, table.concat(lines, "\n"))
    assert.matches("%-> ConnectionFailed: ", lines[1])
    assert.matches("^info retry 1/3 in 0%.0[456]%d* s %(ConnectionFailed%)$", lines[2])
    assert.matches("%-> 503 ", lines[3])
    assert.matches("^info retry 2/3 in 0%.1%d* s %(HTTP 503%)$", lines[4])
    assert.matches("%-> 503 ", lines[5])
    assert.matches("^info retry 3/3 in 0%.[234]%d* s %(HTTP 503%)$", lines[6])
    assert.matches("%-> 404 ", lines[7])
    -- a 429 with Retry-After is waited out: no retry is used up, and the line says why
    lines = {}
    inject{ path = "/tokens/abcde", status = 429, times = 1, headers = { ["Retry-After"] = "1" },
            body = '{"error":{"code":"SubscriptionRequestsThrottled","message":"slow down"}}' }
    _, err = c:get_token("abcde")
    assert.are.equal(404, err.status)
    assert.are.equal(3, #lines, table.concat(lines, "\n"))
    assert.are.equal("info throttled (HTTP 429): waiting 1 s as Retry-After asks, not counted as a retry",
                     lines[2])
    assert.is_nil(lines[2]:find("%d/%d"))
    c:close()
  end)

  it("reports a connection that keeps dropping", function()
    inject{ path = "/tokens/abcde", drop = true, times = 10 }
    local _, err = client:get_token("abcde")
    assert.are.equal("ConnectionFailed", err.code)
    assert.is_true(err.retryable)
  end)

  it("reports a connection refused", function()
    local c = ch.client(em, { endpoint = "http://127.0.0.1:1", retry = 0 })
    local _, err = c:get_token("abcde")
    assert.are.equal("ConnectionFailed", err.code)
  end)

  it("rejects malformed JSON", function()
    inject{ path = "/tokens/abcde", status = 200, body = '{"id": "/subscriptions/x", "name": ' }
    local tok, err = client:get_token("abcde")
    assert.is_nil(tok)
    assert.are.equal("InvalidResponse", err.code)
  end)

  it("rejects a truncated body", function()
    inject{ path = "/tokens/abcde", status = 200, body = '{"id": "/subscriptions/x"', content_length = 400, times = 10 }
    local c = ch.client(em, { timeout = 5 })
    local tok, err = c:get_token("abcde")
    assert.is_nil(tok)
    assert.are.equal("ConnectionFailed", err.code)
  end)

  it("rejects an HTML 502 page", function()
    inject{ path = "/tokens/abcde", status = 502, times = 10, headers = { ["Content-Type"] = "text/html" },
            body = "<html><body><h1>502 Bad Gateway</h1></body></html>" }
    local tok, err = client:get_token("abcde")
    assert.is_nil(tok)
    assert.are.equal(502, err.status)
    assert.are.equal("BadGateway", err.code)
    assert.are.equal("502 Bad Gateway", err.message)   -- the page's words, not its tags
    assert.matches("%(HTTP 502", tostring(err))
  end)

  it("refuses a Location on another host and sends nothing there", function()
    local sm = new_map()
    inject{ path = "/scopeMaps/" .. sm.name, method = "DELETE", status = 202,
            headers = { Location = "https://evil.example.com/steal?api-version=1" } }
    local ok, err = client:delete_scope_map(sm.name)
    assert.is_nil(ok)
    assert.are.equal("UntrustedHost", err.code)
    assert.matches("evil%.example%.com", err.message)
    assert.are.equal(1, count("DELETE injected"))
    assert(client:get_scope_map(sm.name))   -- nothing lost: the map is still there
  end)

  it("refuses an Azure-AsyncOperation on another port", function()
    local port = em.url:match(":(%d+)$")
    local other = em.url:gsub(":%d+$", ":" .. (tonumber(port) + 1))
    inject{ path = "/scopeMaps/", method = "PATCH", status = 201,
            headers = { ["Azure-AsyncOperation"] = other .. "/status" },
            body = '{"properties":{"provisioningState":"Updating"}}' }
    local sm = new_map()
    local _, err = sm:update{ description = "x" }
    assert.are.equal("UntrustedHost", err.code)
  end)

  it("refuses a nextLink on another host, in next_page and in the iterator", function()
    inject{ path = "/tokens", method = "GET", status = 200, times = 2,
            body = '{"value":[],"nextLink":"https://evil.example.com/tokens?$skipToken=1"}' }
    local pager = client:tokens()
    assert.are.same({}, assert(pager:next_page()))   -- the page itself is handed out
    local items, err = pager:next_page()
    assert.is_nil(items)
    assert.are.equal("UntrustedHost", err.code)
    local ok, ierr = pcall(function() for _ in client:tokens() do end end)
    assert.is_false(ok)
    assert.is_true(acr.is_error(ierr))
    assert.are.equal("UntrustedHost", ierr.code)
  end)

  it("follows a relative nextLink and sets the api-version on it", function()
    local path = em:registry_path()
    inject{ path = "/tokens", method = "GET", query = "skipToken", status = 200,
            body = '{"value":[{"id":"' .. path .. '/tokens/tok-b","name":"tok-b","properties":{"status":"enabled"}}]}' }
    inject{ path = "/tokens", method = "GET", status = 200,
            body = '{"value":[{"id":"' .. path .. '/tokens/tok-a","name":"tok-a","properties":{"status":"enabled"}}],'
                   .. '"nextLink":"' .. path .. '/tokens?API-Version=1999-01-01&$skipToken=abc"}' }
    local names = {}
    for t in client:tokens() do names[#names + 1] = t.name end
    assert.are.same({ "tok-a", "tok-b" }, names)
    local log = em:log()
    local seen = {}
    for i, e in ipairs(log) do seen[i] = e.method .. " " .. e.path .. "?" .. tostring(e.query) .. " " .. tostring(e.status) end
    assert.are.equal(2, #log, table.concat(seen, "\n"))
    assert.matches("api%-version=2019%-05%-01%-preview", log[2].query)
    assert.is_nil(log[2].query:lower():find("1999", 1, true))
  end)

  it("treats a 202 with nothing to poll as an error", function()
    local sm = new_map()
    inject{ path = "/scopeMaps/" .. sm.name, method = "DELETE", status = 202, body = "" }
    local _, err = sm:delete()
    assert.are.equal("InvalidLroResponse", err.code)
  end)

  it("treats a status resource without a status as an error", function()
    em:settings{ lro_style = "async", polls = 2 }
    local sm = new_map()
    inject{ path = "/operationStatuses/", method = "GET", status = 200, body = '{"state":"whatever"}' }
    local _, err = sm:update{ description = "x" }
    assert.are.equal("InvalidLroResponse", err.code)
  end)

  it("accepts a numeric error code from a Failed status resource", function()
    em:settings{ lro_style = "async", polls = 2 }
    local sm = new_map()
    inject{ path = "/operationStatuses/", method = "GET", status = 200,
            body = '{"status":"failed","error":{"code":409,"message":"conflict inside"}}' }
    local _, err = sm:update{ description = "x" }
    assert.are.equal("409", err.code)
    assert.are.equal("conflict inside", err.message)
  end)
end)
