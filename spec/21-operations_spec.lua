-- Every operation against the emulator, in each LRO style, with polls 0 and > 0.
local ch = require "client_helpers"
local acr = require "acr"

local styles = { "realistic", "async", "location", "body" }

describe("operations #emulator", function()
  local em, client
  local start, stop = ch.suite({ retry_after = 0, polls = 0 },
    nil,
    nil,
    function(e, c) em, client = e, c end)
  setup(start)
  teardown(stop)

  for _, style in ipairs(styles) do
    for _, polls in ipairs{ 0, 2 } do
      it(("run the whole lifecycle with lro_style=%s polls=%d"):format(style, polls), function()
        em:settings{ lro_style = style, polls = polls }
        local smname, tokname = ch.unique("sm"), ch.unique("tok")

        local sm = assert(client:create_scope_map(smname, {
          actions = { "repositories/app/content/read" }, description = "CI" }))
        assert.are.equal("acr.ScopeMap", getmetatable(sm).__name)
        assert.are.equal(smname, sm.name)
        assert.are.same({ "repositories/app/content/read" }, sm.actions)
        assert.are.equal("CI", sm.description)
        assert.are.equal("Succeeded", sm.provisioning_state)
        assert.are.equal("UserDefined", sm.scope_map_type)

        local got = assert(client:get_scope_map(smname))
        assert.is_true(got == sm)

        local tok = assert(client:create_token(tokname, { scope_map = sm, status = "enabled" }))
        assert.are.equal(tokname, tok.name)
        assert.are.equal("enabled", tok.status)
        assert.are.equal(sm.id, tok.scope_map_id)
        assert.are.equal("Succeeded", tok.provisioning_state)

        local creds = assert(tok:generate_credentials{ name = "password1",
                                                       expiry = "2027-01-01T00:00:00Z" })
        assert.are.equal(tokname, creds.username)
        assert.are.equal(1, #creds.passwords)
        assert.are.equal("password1", creds.passwords[1].name)
        assert.is_string(creds.passwords[1].value)
        assert.is_true(#creds.passwords[1].value > 10)
        assert.is_nil(tostring(creds):find(creds.passwords[1].value, 1, true))

        assert(tok:refresh())
        local pw = tok.credentials.passwords
        assert.are.equal("password1", pw[1].name)
        assert.matches("^2027%-01%-01", pw[1].expiry)
        assert.is_nil(pw[1].value)

        assert(tok:disable())
        assert.are.equal("disabled", tok.status)
        assert.are.equal("disabled", assert(client:get_token(tokname)).status)
        assert(client:enable_token(tokname))
        assert.are.equal("enabled", assert(client:get_token(tokname)).status)

        assert(sm:update{ description = "CI pulls" })
        assert.are.equal("CI pulls", sm.description)
        assert.are.equal("CI pulls", assert(client:get_scope_map(smname)).description)

        local bound = assert(tok:scope_map())
        assert.is_true(bound == sm)

        local seen = false
        for t in client:tokens() do
          if t.name == tokname then seen = true end
        end
        assert.is_true(seen)

        assert.is_true(assert(tok:delete()))
        local gone, err = client:get_token(tokname)
        assert.is_nil(gone)
        assert.are.equal(404, err.status)
        assert.are.equal("ResourceNotFound", err.code)
        assert.is_true(assert(sm:delete()))
        assert.is_nil((client:get_scope_map(smname)))
      end)
    end
  end

  it("begin_* twins return operations that poll, report status and finish", function()
    em:settings{ lro_style = "async", polls = 3 }
    local sm = assert(client:create_scope_map(ch.unique("sm"), { actions = { "repositories/a/content/read" } }))
    local op = client:begin_create_token(ch.unique("tok"), { scope_map = sm.name })
    assert.are.equal("acr.Operation", getmetatable(op).__name)
    assert.is_false(op:done())
    -- sent; NotStarted until the service answers, which may already have happened
    assert.is_truthy(({ NotStarted = true, InProgress = true })[op:status()], op:status())
    assert.are.equal("InProgress", op:wait_accepted())
    local polls = 0
    while not op:done() do
      op:poll()
      if not op:done() then op:wait(op:delay()) end
      polls = polls + 1
      assert.is_true(polls < 50)
    end
    assert.are.equal("Succeeded", op:status())
    local tok = assert(op:result())
    assert.are.equal("enabled", tok.status)
    assert.matches("^%x+%-%x+%-4%x+%-[89ab]%x+%-%x+$", op:request_id())
    local del = tok:begin_delete()
    assert.is_true(assert(del:wait()))
    assert.is_true(del:done())
    assert(sm:delete())
  end)

  it("keeps x-ms-client-request-id constant across the polls of one operation", function()
    em:settings{ lro_style = "async", polls = 2 }
    em:reset()
    local op = client:begin_create_scope_map(ch.unique("sm"), { actions = { "repositories/a/content/read" } })
    assert(op:wait())
    local log = em:log()
    local ids = {}
    for _, e in ipairs(log) do
      if e.client_request_id then ids[e.client_request_id] = (ids[e.client_request_id] or 0) + 1 end
    end
    assert.are.equal(op:request_id(), next(ids))
    assert.is_true(ids[op:request_id()] >= 3)
  end)

  it("runs a whole workload over one kept-alive connection", function()
    em:settings{ lro_style = "realistic", polls = 1 }
    local c = ch.client(em)
    em:reset()
    local sm = assert(c:create_scope_map(ch.unique("sm"), { actions = { "repositories/a/content/read" } }))
    local tok = assert(c:create_token(ch.unique("tok"), { scope_map = sm }))
    assert(tok:generate_credentials())
    for _ in c:tokens() do end
    assert(tok:delete()); assert(sm:delete())
    local stats = em:stats()
    assert.is_true(stats.total >= 10)
    assert.are.equal(1, stats.connections)
    assert.are.equal(1, c:connections())
    c:close()
  end)

  it("ends an operation cleanly when its client is closed mid-way", function()
    em:settings{ lro_style = "async", polls = 3 }
    local c = ch.client(em)
    local op = c:begin_create_scope_map(ch.unique("sm"), { actions = { "repositories/a/content/read" } })
    assert.is_false(op:done())
    c:close()
    local r, err = op:wait()
    assert.is_nil(r)
    assert.are.equal("ClientClosed", err.code)
    assert.is_nil(op:next_request())
  end)
end)
