-- Misuse and hostile input that once could crash or hang the core now end in a clear
-- error: closed credentials and clients, headers changed after the call was built,
-- deeply nested documents, wrong `self`, odd header tables, long messages, look-alike
-- loopback names, empty status bodies, huge numeric codes, NaN waits.
local ch = require "client_helpers"
local helpers = ch.helpers
local acr = require "acr"

local TENANT = "00000000-0000-0000-0000-0000000000e1"

describe("robustness #emulator", function()
  local em
  setup(function() em = helpers.start_emulator{ retry_after = 0, polls = 1 } end)
  teardown(function() if em then em:stop() end end)
  before_each(function()
    em:settings{ lro_style = "realistic", polls = 1 }
    em:reset()
  end)
  local function inject(t) return assert(em:admin("POST", "inject", t)) end

  it("a closed credential fails the call with CredentialClosed", function()
    for _, cred in ipairs{
      acr.credential.client_secret{ tenant_id = TENANT, client_id = em.client_id,
                                     client_secret = em.client_secret, authority_host = em.url },
      acr.credential.managed_identity{ imds_endpoint = em.url },
    } do
      local c = ch.client(em, { credential = cred })
      cred:close()
      local tok, err = c:get_token("abcde")
      assert.is_nil(tok)
      assert.are.equal("CredentialClosed", err.code)
    end
  end)

  it("a client closed from its own logger ends the operation with ClientClosed", function()
    local setup_client = ch.client(em)
    local sm = assert(setup_client:create_scope_map(ch.unique("lgclose"),
                                                    { actions = { "repositories/a/content/read" } }))
    setup_client:close()
    local c
    c = ch.client(em, { logger = function() c:close() end })
    -- the first answer is taken in before the logger runs; the operation still has
    -- polls to send, and the closed client sends none of them
    local tok, err = c:create_token(ch.unique("lgclose"), { scope_map = sm.name })
    assert.is_nil(tok)
    assert.are.equal("ClientClosed", err.code)
  end)

  it("a client closed between next_request() and feed() ends the operation", function()
    local c = ch.client(em)
    local op = c:prepare("get_token", "abcde")
    assert.truthy(op:next_request())
    c:close()
    op:feed(200, {}, '{"id":"x"}')
    local r, err = op:result()
    assert.is_nil(r)
    assert.are.equal("ClientClosed", err.code)
  end)

  it("uses the headers as they were when the call was built", function()
    local c = ch.client(em)
    local h = { ["x-custom"] = "one" }
    local op = c:prepare("request", "GET", em:registry_path() .. "/tokens", { headers = h })
    h["x-custom"] = 42
    h[true] = "boom"
    h["x-evil"] = "a\r\nInjected: yes"
    assert.are.equal("one", op:next_request().headers["x-custom"])
    assert.is_nil(op:next_request().headers["x-evil"])
    local res = assert(op:wait())
    assert.are.equal(200, res.status)
  end)

  it("copes with a deeply nested document", function()
    local c = ch.client(em)
    local deep = "1"
    for _ = 1, 50 do deep = '{"a":' .. deep .. '}' end
    inject{ path = "/tokens/deep-token", status = 200,
            body = '{"id":"/x/tokens/deep-token","name":"deep-token","properties":{"status":"enabled","credentials":' .. deep .. '}}' }
    local tok = assert(c:get_token("deep-token"))
    local t = tok:to_table()
    local depth, v = 0, t.properties.credentials
    while type(v) == "table" do depth, v = depth + 1, v.a end
    assert.are.equal(50, depth)
    assert.is_table(tok.credentials)
  end)

  it("raises for a wrong self in metamethods", function()
    local c = ch.client(em)
    local sm = assert(c:create_scope_map(ch.unique("rb"), { actions = { "repositories/a/content/read" } }))
    assert.is_false(pcall(getmetatable(sm).__tostring, {}))
    assert.is_false(pcall(getmetatable(sm).__index, {}, "name"))
    assert.is_false(pcall(getmetatable(c).__index.get_token, {}, "abcde"))
  end)

  it("reads headers raw, whatever metatable the table has", function()
    local c = ch.client(em)
    local op = c:prepare("delete_token", "abcde")
    op:next_request()
    local hdr = setmetatable({}, { __index = function(_, k)
      if k == "location" then return em.url .. "/x/operationResults/1" .. ("z"):rep(100) end
    end })
    op:feed(202, hdr, nil)
    local _, err = op:result()
    assert.are.equal("InvalidLroResponse", err.code)
  end)

  it("prints long messages with their status and request id", function()
    local c = ch.client(em)
    inject{ path = "/tokens/abcde", status = 409, headers = { ["x-ms-request-id"] = "rid-123" },
            body = '{"error":{"code":"Conflict","message":"' .. ("m"):rep(9000) .. '"}}' }
    local _, err = c:get_token("abcde")
    assert.matches("%(HTTP 409, request id rid%-123%)$", tostring(err))
  end)

  it("keeps a huge numeric code whole", function()
    em:settings{ lro_style = "async", polls = 2 }
    local c = ch.client(em)
    local sm = assert(c:create_scope_map(ch.unique("rb"), { actions = { "repositories/a/content/read" } }))
    inject{ path = "/operationStatuses/", status = 200,
            body = '{"status":"Failed","error":{"code":3000000000,"message":"big"}}' }
    local _, err = sm:update{ description = "x" }
    assert.are.equal("3000000000", err.code)
  end)

  it("treats an empty or null status body as an error", function()
    em:settings{ lro_style = "async", polls = 2 }
    local c = ch.client(em)
    for _, body in ipairs{ "", "null" } do
      local sm = assert(c:create_scope_map(ch.unique("rb"), { actions = { "repositories/a/content/read" } }))
      inject{ path = "/operationStatuses/", status = 200, body = body }
      local _, err = sm:update{ description = "x" }
      assert.are.equal("InvalidLroResponse", err.code)
    end
  end)

  it("does not take a name starting with 127. for loopback", function()
    local function client_for(ep)
      return pcall(acr.client, { subscription_id = "s", resource_group = "rg", registry = "myregistry",
                                 credential = acr.credential.static("t"), endpoint = ep })
    end
    local ok, err = client_for("http://127.attacker.example")
    assert.is_false(ok)
    assert.matches("must be https", err)
    assert.is_true((client_for("http://127.0.0.2:8080")))
    assert.is_true((client_for("http://localhost:8080")))
    local cred = acr.credential.client_secret{ tenant_id = TENANT, client_id = "c", client_secret = "s",
                                               authority_host = "http://127.evil.example" }
    local c = ch.client(em, { credential = cred })
    local _, aerr = c:get_token("abcde")
    assert.are.equal("AuthenticationFailed", aerr.code)
    assert.matches("not an https URL", aerr.message)
  end)

  it("refuses senseless waits and retry counts", function()
    local c = ch.client(em)
    local op = c:begin_create_scope_map(ch.unique("rb"), { actions = { "repositories/a/content/read" } })
    assert.is_false(pcall(op.wait, op, 0 / 0))
    assert.is_false(pcall(ch.client, em, { retry = { max_retries = 100 } }))
    assert.is_false(pcall(ch.client, em, { timeout = 1e300 }))
  end)
end)
