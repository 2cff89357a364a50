-- examples/nginx (acr-admin) against a TLS emulator: the handlers, the expiry timer,
-- the client-secret credential over cosockets, and a worker that keeps serving
-- while twenty long-running operations wait.
local ch = require "client_helpers"
local helpers = ch.helpers
local cjson = require "cjson.safe"
local q = helpers.quote

local skip_reason = helpers.nginx_skip_reason

if skip_reason() then
  describe("examples/nginx acr-admin #nginx", function() pending(skip_reason()) end)
  return
end

local TENANT, CLIENT_ID = "00000000-0000-0000-0000-0000000000e1", "00000000-0000-0000-0000-0000000000c1"
local REG = "adminregistry"
local EXAMPLE = helpers.root .. "/examples/nginx"

local function rfc3339(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end

local function start_example(dir, em)
  local em_port = em.url:match(":(%d+)$")
  local em_url = "https://localhost:" .. em_port   -- nginx checks certificates by name
  helpers.sh("mkdir -p " .. q(dir))
  helpers.write_file(dir .. "/client-secret", em.client_secret .. "\n")
  helpers.sh("chmod 600 " .. q(dir .. "/client-secret"))
  helpers.write_file(dir .. "/config.json", cjson.encode {
    endpoint = em_url, authority_host = em_url, hosts = { localhost = "127.0.0.1" },
    subscription_id = ch.SUB, resource_group = ch.RG, registry = REG,
    tenant_id = TENANT, client_id = CLIENT_ID, client_secret_file = dir .. "/client-secret",
    expiry_check_interval = 1, rotate_days = 30, timeout = 20,
  })
  -- no AZURE_CLIENT_SECRET in the environment: the secret file is the one used
  local port = helpers.start_nginx {
    dir = dir, conf = assert(helpers.read_file(EXAMPLE .. "/nginx.conf.in")), probe = "/health",
    env = "env -u AZURE_CLIENT_SECRET",
    vars = {
      LUA_PATH = EXAMPLE .. "/lua/?.lua;" .. helpers.root .. "/lua/?.lua",
      LUA_CPATH = os.getenv("ACR_CPATH") or (helpers.root .. "/build/luajit/?.so"),
      CA_FILE = em.ca_file, CONFIG = dir .. "/config.json",
    },
  }
  return "http://127.0.0.1:" .. port
end

describe("examples/nginx acr-admin #nginx", function()
  local em, dir, base, client

  local function get(path)
    local status, headers, body = helpers.http("GET", base .. path)
    return status, cjson.decode(body or ""), headers
  end

  local function post(path)
    local status, headers, body = helpers.http("POST", base .. path)
    return status, cjson.decode(body or ""), headers
  end

  local function arm_token(name)
    local _, _, _, doc = em:arm("GET", em:registry_path(ch.SUB, ch.RG, REG) .. "/tokens/" .. name)
    return doc
  end

  local function password(doc, name)
    for _, p in ipairs(doc.properties.credentials.passwords or {}) do
      if p.name == name then return p end
    end
  end

  setup(function()
    em = helpers.start_emulator{ tls = true, polls = 0, retry_after = 0,
      registries = { ch.SUB .. "/" .. ch.RG .. "/" .. REG } }
    client = ch.client(em, { registry = REG })
    assert(client:create_scope_map("admin-map", { actions = { "repositories/app/content/read" } }))
    for _, name in ipairs { "tok-valid", "tok-nopass" } do
      assert(client:create_token(name, { scope_map = "admin-map" }))
    end
    assert(client:generate_credentials{ token = "tok-valid", name = "password1",
                                        expiry = "2031-01-01T00:00:00Z" })
    dir = helpers.tmpdir("acr-resty-example")
    base = start_example(dir, em)
  end)

  teardown(function()
    if dir then helpers.stop_nginx(dir) end
    if client then client:close() end
    if em then em:stop() end
    helpers.rmdir(dir)
  end)

  it("GET /health answers from the worker's memory", function()
    local status, body = get("/health")
    assert.are.equal(200, status)
    assert.are.equal("ok", body.status)
    assert.are.equal(REG, body.registry)
    assert.are.equal(0, body.libcurl_connections)
  end)

  it("GET /tokens lists tokens with status, scope map and password expiries", function()
    local status, body = get("/tokens")
    assert.are.equal(200, status)
    local by = {}
    for _, t in ipairs(body.tokens) do by[t.name] = t end
    assert.are.equal(body.count, #body.tokens)
    assert.are.equal("enabled", by["tok-valid"].status)
    assert.are.equal("admin-map", by["tok-valid"].scope_map)
    assert.matches("/scopeMaps/admin%-map$", by["tok-valid"].scope_map_id)
    assert.are.equal("password1", by["tok-valid"].passwords[1].name)
    assert.matches("^2031%-01%-01", by["tok-valid"].passwords[1].expiry)
    assert.is_false(by["tok-valid"].passwords[1].expired)
    assert.are.same({}, by["tok-nopass"].passwords)
    assert.matches('"passwords":%[%]', select(3, helpers.http("GET", base .. "/tokens")))
  end)

  it("fetched the credential's token over a cosocket, on the connection ARM calls use", function()
    local _, health = get("/health")
    assert.is_true(health.driver.auth_requests >= 1)
    assert.are.equal(0, health.libcurl_connections)   -- libcurl never ran in nginx
    local oauth_conn, arm = nil, {}
    for _, e in ipairs(em:log()) do
      if e.kind == "POST oauth2" then oauth_conn = oauth_conn or e.connection
      elseif e.kind == "GET tokens" then arm[e.connection] = true end
    end
    assert.is_number(oauth_conn)
    assert.is_true(arm[oauth_conn])
  end)

  it("POST /tokens/{name}/rotate returns password2 once; the token's password2 changes", function()
    assert.is_nil(password(arm_token("tok-valid"), "password2"))
    local status, body, headers = post("/tokens/tok-valid/rotate?days=10")
    assert.are.equal(200, status)
    assert.are.equal("no-store", headers["cache-control"])
    assert.are.equal("tok-valid", body.username)
    assert.are.equal("password2", body.password.name)
    assert.is_true(#body.password.value > 10)
    local p2 = password(arm_token("tok-valid"), "password2")
    assert.is_table(p2)
    assert.are.equal(body.password.expiry:sub(1, 19), p2.expiry:sub(1, 19))
    local exp = body.password.expiry
    -- about 10 days ahead
    local y, m, d = exp:match("^(%d+)-(%d+)-(%d+)")
    assert.are.equal(os.date("!%Y-%m-%d", os.time() + 10 * 86400), ("%s-%s-%s"):format(y, m, d))
    -- a second rotation replaces password2 with a new one
    local _, again = post("/tokens/tok-valid/rotate")
    assert.are_not.equal(body.password.value, again.password.value)
    assert.are_not.equal(p2.creationTime, password(arm_token("tok-valid"), "password2").creationTime)
    assert.matches("^2031", password(arm_token("tok-valid"), "password1").expiry)  -- untouched
    -- the values are in no log
    helpers.sh("sleep 0.1")
    local logs = (helpers.read_file(dir .. "/logs/error.log") or "")
                 .. (helpers.read_file(dir .. "/logs/access.log") or "")
    assert.is_nil(logs:find(body.password.value, 1, true))
    assert.is_nil(logs:find(again.password.value, 1, true))
    assert.is_nil(logs:find(em.client_secret, 1, true))
    assert.matches("rotated password2 of token tok%-valid", logs)
  end)

  it("answers errors as JSON: 404 from the service, 405, 400", function()
    local status, body = post("/tokens/no-such-token/rotate")
    assert.are.equal(404, status)
    assert.are.equal("ResourceNotFound", body.error.code)
    status = get("/tokens/tok-valid/rotate")
    assert.are.equal(405, status)
    status, body = post("/tokens/bad_name!/rotate")
    assert.are.equal(400, status)
    assert.are.equal("InvalidTokenName", body.error.code)
    status = post("/tokens/tok-valid/rotate?days=-1")
    assert.are.equal(400, status)
  end)

  it("the timer disables a token once all its passwords have expired", function()
    assert(client:create_token("tok-expiring", { scope_map = "admin-map" }))
    assert(client:generate_credentials{ token = "tok-expiring", name = "password1",
                                        expiry = rfc3339(os.time() + 2) })
    assert.are.equal("enabled", arm_token("tok-expiring").properties.status)
    local status
    for _ = 1, 100 do
      status = arm_token("tok-expiring").properties.status
      if status == "disabled" then break end
      helpers.sh("sleep 0.1")
    end
    assert.are.equal("disabled", status)
    -- a valid password, or none at all, keeps a token enabled
    assert.are.equal("enabled", arm_token("tok-valid").properties.status)
    assert.are.equal("enabled", arm_token("tok-nopass").properties.status)
    local _, health = get("/health")
    assert.is_true(health.sweeps.disabled >= 1)
    assert.are.equal(0, health.sweeps.failures)
    assert.matches("disabled token tok%-expiring", helpers.read_file(dir .. "/logs/error.log"))
  end)

  it("keeps serving while 20 long-running rotations wait (order, not stopwatch)", function()
    local N = 20
    for i = 1, N do assert(client:create_token(("tok-par-%02d"):format(i), { scope_map = "admin-map" })) end
    -- every generateCredentials is now an LRO held for 3 polls, 1 s apart
    em:settings{ lro_style = "async", polls = 3, retry_after = 1 }
    local log0 = em:log()
    local base_seq = log0[#log0] and log0[#log0].seq or 0
    local work = dir .. "/par"
    helpers.sh("mkdir -p " .. q(work))
    local script = {}
    for i = 1, N do
      script[#script + 1] = ("( curl -s -m 60 -o %s -X POST %s; echo \"rotate %d $(date +%%s.%%N)\" >> %s ) &")
        :format(q(work .. "/r" .. i), q(base .. ("/tokens/tok-par-%02d/rotate"):format(i)), i, q(work .. "/order"))
    end
    script[#script + 1] = "sleep 0.8"
    script[#script + 1] = ("curl -s -m 60 -o %s %s; echo \"health $(date +%%s.%%N)\" >> %s")
      :format(q(work .. "/health"), q(base .. "/health"), q(work .. "/order"))
    script[#script + 1] = "wait"
    local ok, out = helpers.sh(table.concat(script, "\n"))
    em:settings{ lro_style = "realistic", polls = 0, retry_after = 0 }
    assert.is_true(ok, out)

    -- /health answered before any rotation finished
    local order, health_time = {}, nil
    for line in helpers.read_file(work .. "/order"):gmatch("[^\n]+") do
      local what, t = line:match("^(%a+) .-([%d.]+)$")
      order[#order + 1] = what
      if what == "health" then health_time = tonumber(t) end
    end
    assert.are.equal(N + 1, #order)
    assert.are.equal("health", order[1])
    assert.are.equal("ok", cjson.decode(helpers.read_file(work .. "/health")).status)
    -- ... and every rotation succeeded
    for i = 1, N do
      local r = cjson.decode(helpers.read_file(work .. "/r" .. i) or "")
      assert.is_table(r, "rotation " .. i)
      assert.are.equal("password2", r.password.name)
    end

    -- the emulator's log: all 20 had started before /health answered, and their
    -- polls are interleaved (no operation polls twice in a row)
    local started, polls, ids = 0, {}, {}
    for _, e in ipairs(em:log()) do
      if e.seq > base_seq then
        if e.kind == "POST generateCredentials" then
          ids[e.client_request_id] = 0
          if e.time < health_time then started = started + 1 end
        elseif ids[e.client_request_id] and e.kind == "GET operationStatus" then
          polls[#polls + 1] = e.client_request_id
          ids[e.client_request_id] = ids[e.client_request_id] + 1
        end
      end
    end
    assert.are.equal(N, started)
    local n_ids = 0
    for _, count in pairs(ids) do
      n_ids = n_ids + 1
      assert.is_true(count >= 4)   -- 3 "in progress" polls and the last one
    end
    assert.are.equal(N, n_ids)
    local back_to_back = 0
    for i = 2, #polls do
      if polls[i] == polls[i - 1] then back_to_back = back_to_back + 1 end
    end
    -- one operation after another would put each one's polls together: 3 * N repeats
    assert.is_true(back_to_back <= 2, "polls back to back: " .. back_to_back)
  end)
end)
