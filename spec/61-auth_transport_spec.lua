-- A token request that fails in transport is reported as what it is: ConnectionFailed,
-- TlsError or Timeout (the codes of ARM's transport failures), naming the token
-- endpoint's host, with err.during = "token"; a connection failure or a timeout is
-- retried like an ARM request, within the bound of token requests in a row. A token
-- endpoint that answers and refuses is still AuthenticationFailed.
local ch = require "client_helpers"
local helpers = ch.helpers
local acr = require "acr"

local TENANT = "00000000-0000-0000-0000-0000000000e1"
local DEAD = "http://127.0.0.1:9"   -- nothing listens on loopback's discard port

-- A token endpoint that takes every request and never answers.
local SLOW_CONF = [=[
{{HEAD}}
http {
{{HTTP_FILES}}
  server {
    listen 127.0.0.1:{{PORT}};
    location = /ka { return 204; }
    location / { content_by_lua_block { ngx.sleep(30) } }
  }
}
]=]

describe("token requests that fail in transport #emulator #auth", function()
  local em
  setup(function() em = helpers.start_emulator{ tls = true, retry_after = 0, polls = 0 } end)
  teardown(function() if em then em:stop() end end)
  before_each(function() em:reset() end)

  local function secret_cred(authority, secret)
    return acr.credential.client_secret{ tenant_id = TENANT, client_id = em.client_id,
                                         client_secret = secret or em.client_secret,
                                         authority_host = authority or em.url }
  end
  local function client(cred, over)
    local o = { credential = cred, retry = { max_retries = 2, base_delay = 0.01, max_delay = 0.05 } }
    for k, v in pairs(over or {}) do o[k] = v end
    return ch.client(em, o)
  end

  it("a token endpoint with nothing listening: ConnectionFailed, naming its host", function()
    local _, err = client(secret_cred(DEAD)):get_token("abcde")
    assert.are.equal("ConnectionFailed", err.code)
    assert.are.equal("token", err.during)
    assert.is_nil(err.status)
    assert.is_true(err.retryable)
    assert.matches("^client secret: the connection to 127%.0%.0%.1:9 %(token endpoint%) failed: %S", err.message)
    assert.is_nil(tostring(err):find(em.client_secret, 1, true))
    assert.are.equal(0, #em:log())   -- ARM was not asked
  end)

  it("the same for managed identity (IMDS, asked once) and workload identity (retried)", function()
    local lines = {}
    local _, err = client(acr.credential.managed_identity{ imds_endpoint = DEAD },
                          { logger = function(_, m) lines[#lines + 1] = m end }):get_token("abcde")
    assert.are.equal("ConnectionFailed", err.code)
    assert.are.equal("token", err.during)
    -- IMDS not answering means no IMDS on this machine: asked once, not retried
    assert.is_false(err.retryable)
    assert.are.equal(1, #lines, table.concat(lines, "\n"))
    assert.matches("^managed identity: the connection to 127%.0%.0%.1:9 %(token endpoint%) failed", err.message)
    local tmp = helpers.tmpdir("acr-wi")
    helpers.write_file(tmp .. "/token", "eyJ.federated.x")
    _, err = client(acr.credential.workload_identity{ tenant_id = TENANT, client_id = em.client_id,
                      token_file = tmp .. "/token", authority_host = DEAD }):get_token("abcde")
    helpers.rmdir(tmp)
    assert.are.equal("ConnectionFailed", err.code)
    assert.are.equal("token", err.during)
    assert.matches("^workload identity: the connection to 127%.0%.0%.1:9 %(token endpoint%)", err.message)
    assert.is_true(err.retryable)
  end)

  it("a token endpoint whose certificate fails verification: TlsError, not retried", function()
    local other = helpers.start_emulator{ tls = true }   -- its own CA, which the client does not trust
    local port = other.url:match(":(%d+)$")
    local lines = {}
    local c = client(secret_cred(other.url), { logger = function(_, m) lines[#lines + 1] = m end })
    local _, err = c:get_token("abcde")
    other:stop()
    assert.are.equal("TlsError", err.code)
    assert.are.equal("token", err.during)
    assert.is_false(err.retryable)
    assert.matches("^client secret: TLS with 127%.0%.0%.1:" .. port .. " %(token endpoint%) failed: %S", err.message)
    assert.are.equal(1, #lines)   -- one token request, no retry
    assert.matches("oauth2/v2%.0/token %-> TlsError", lines[1])
  end)

  it("a token endpoint that never answers: Timeout after the client's timeout", function()
    local dir = helpers.tmpdir("acr-slow")
    local port = helpers.start_nginx{ dir = dir, conf = SLOW_CONF, probe = "/ka" }
    local t0 = ch.monotime()
    local _, err = client(secret_cred("http://127.0.0.1:" .. port), { timeout = 0.4, retry = 0 })
      :get_token("abcde")
    local took = ch.monotime() - t0
    helpers.stop_nginx(dir)
    helpers.rmdir(dir)
    assert.are.equal("Timeout", err.code)
    assert.are.equal("token", err.during)
    assert.is_true(err.retryable)
    assert.matches("^client secret: 127%.0%.0%.1:" .. port .. " %(token endpoint%) did not answer in time: %S", err.message)
    assert.is_true(took >= 0.35 and took < 5, tostring(took))
  end)

  it("retries a dropped token request like an ARM request, and logs each retry", function()
    em:admin("POST", "inject", { path = "/oauth2/v2.0/token", drop = true, times = 2 })
    local lines = {}
    local c = client(secret_cred(), { retry = { max_retries = 3, base_delay = 0.01, max_delay = 0.05 },
                                      logger = function(_, m) lines[#lines + 1] = m end })
    local _, err = c:get_token("nosuch-token")
    assert.are.equal(404, err.status)    -- the third token request worked: ARM answered
    assert.is_nil(err.during)            -- an ARM error is not a token error
    assert.are.equal(2, ch.count_requests(em, "POST injected"))
    assert.are.equal(1, ch.count_requests(em, "POST oauth2"))
    local text = table.concat(lines, "\n")
    assert.matches("retry 1/3 in [%d.]+ s %(token endpoint: ConnectionFailed%)", text)
    assert.matches("retry 2/3 in [%d.]+ s %(token endpoint: ConnectionFailed%)", text)
  end)

  it("holds every operation's token request while one waits out the endpoint's back-off", function()
    em:admin("POST", "inject", { path = "/oauth2/v2.0/token", drop = true, times = 2 })
    local mark = ch.log_mark(em)
    local c = client(secret_cred(), { retry = { max_retries = 3, base_delay = 0.3, max_delay = 0.3 } })
    local ops = {}
    for i = 1, 16 do
      ops[i] = c:prepare("get_token", "nosuch-" .. i)
      ops[i]:poll()
    end
    for _, op in ipairs(ops) do
      local _, err = op:wait()
      assert.are.equal(404, err.status)   -- every one got the token, then ARM's answer
    end
    local starts = {}
    for _, e in ipairs(ch.log_since(em, mark)) do
      if e.kind == "POST injected" or e.kind == "POST oauth2" then starts[#starts + 1] = e.start end
    end
    -- two dropped, one answered: one at a time, each after the back-off (0.3 s +-20 %),
    -- not one from each operation the last failure released
    assert.are.equal(3, #starts)
    for i = 2, #starts do
      assert.is_true(starts[i] - starts[i - 1] >= 0.2, ("token request %d came %.3f s after the last")
        :format(i, starts[i] - starts[i - 1]))
    end
  end)

  it("gives up after the client's retries, with the transport's error", function()
    em:admin("POST", "inject", { path = "/oauth2/v2.0/token", drop = true, times = 50 })
    local _, err = client(secret_cred()):get_token("abcde")
    assert.are.equal("ConnectionFailed", err.code)
    assert.are.equal("token", err.during)
    assert.matches("%(token endpoint%)", err.message)
    assert.are.equal(3, ch.count_requests(em, "POST injected"))   -- 1 + max_retries 2
  end)

  it("retries within the bound of 8 token requests in a row, whatever max_retries says", function()
    em:admin("POST", "inject", { path = "/oauth2/v2.0/token", drop = true, times = 50 })
    local _, err = client(secret_cred(), { retry = { max_retries = 20, base_delay = 0.01, max_delay = 0.02 } })
      :get_token("abcde")
    assert.are.equal("ConnectionFailed", err.code)   -- the failure itself, not "no usable token"
    assert.are.equal("token", err.during)
    assert.are.equal(8, ch.count_requests(em, "POST injected"))
  end)

  it("a token endpoint that answers and refuses is still AuthenticationFailed, not retried", function()
    local _, err = client(secret_cred(nil, "wrong-secret-value")):get_token("abcde")
    assert.are.equal("AuthenticationFailed", err.code)
    assert.are.equal("token", err.during)
    assert.are.equal(401, err.status)
    assert.are.equal("invalid_client", err.auth_error)
    assert.are.equal(1, ch.count_requests(em, "POST oauth2"))
  end)
end)

describe("token transport failures through op:feed() #unit", function()
  -- The seam acr.resty uses: its cosockets report Timeout, ConnectionFailed or TlsError.
  local function token_op(retry)
    local c = acr.client(ch.options{
      authority_host = DEAD, retry = retry,
      credential = acr.credential.client_secret{ tenant_id = "t", client_id = "c", client_secret = "x" } })
    local op = c:prepare("get_token", "tok-one")
    assert.is_true(op:next_request().auth)
    return op
  end

  it("TlsError ends the operation with that code, naming the host", function()
    local op = token_op(3)
    op:feed(nil, nil, nil, "TlsError", "certificate verify failed")
    assert.is_true(op:done())
    local _, err = op:result()
    assert.are.equal("TlsError", err.code)
    assert.are.equal("token", err.during)
    assert.are.equal("client secret: TLS with 127.0.0.1:9 (token endpoint) failed: certificate verify failed",
                     err.message)
  end)

  it("ConnectionFailed asks for the token again after a backoff, then ends with it", function()
    local op = token_op{ max_retries = 1, base_delay = 0.5, max_delay = 1 }
    op:feed(nil, nil, nil, "ConnectionFailed", "connection refused")
    assert.is_false(op:done())
    assert.is_true(op:delay() > 0.3)
    assert.is_true(op:next_request().auth)
    op:feed(nil, nil, nil, "Timeout", "timed out")
    assert.is_true(op:done())
    local _, err = op:result()
    assert.are.equal("Timeout", err.code)
    assert.are.equal("token", err.during)
    assert.matches("127%.0%.0%.1:9 %(token endpoint%) did not answer in time: timed out", err.message)
  end)
end)
