-- The runbook examples end to end: each runs as a command of its own (this flavour's
-- interpreter, from another working directory, so examples/runbook.lua must be found
-- next to the script) against the emulator over TLS, and what it prints, what it
-- leaves in the registry and its exit status are checked.
local ch = require "client_helpers"
local helpers = ch.helpers
local cjson = require "cjson"

local q = helpers.quote
local EXAMPLES = helpers.root .. "/examples/"

-- Every variable the examples read: cleared for each run, then set from `env`.
local CONNECTION_ENV = { "ACR_ENDPOINT", "ACR_CA_FILE", "AZURE_SUBSCRIPTION_ID",
                         "ACR_RESOURCE_GROUP", "ACR_REGISTRY", "ACR_ACCESS_TOKEN" }

describe("examples #emulator #examples", function()
  local em, tmp, token

  setup(function()
    em = helpers.start_emulator{ tls = true, retry_after = 0, polls = 1, seed_data = 3 }
    tmp = helpers.tmpdir("acr-examples")
    token = em:token()
  end)
  teardown(function()
    if em then em:stop() end
    if tmp then helpers.rmdir(tmp) end
  end)
  before_each(function() em:reset() end)

  -- The connection as the demo gives it: all from the environment.
  local function connection()
    return { ACR_ENDPOINT = em.url, ACR_CA_FILE = em.ca_file, AZURE_SUBSCRIPTION_ID = ch.SUB,
             ACR_RESOURCE_GROUP = ch.RG, ACR_REGISTRY = ch.REG, ACR_ACCESS_TOKEN = token }
  end

  -- syntax: rc, stdout, stderr = run(script, args?, env?)
  -- env defaults to connection(); a variable set to false is left unset.
  local function run(script, args, env)
    env = env or connection()
    local parts = { "cd", q(tmp), "&&", "env" }
    for _, k in ipairs(CONNECTION_ENV) do parts[#parts + 1] = "-u " .. k end
    for k, v in pairs(env) do
      if v then parts[#parts + 1] = q(k .. "=" .. v) end
    end
    parts[#parts + 1] = q("LUA_CPATH=" .. (os.getenv("ACR_CPATH")
      or (helpers.root .. "/build/lua5.4/?.so")) .. ";;")
    parts[#parts + 1] = q("LUA_PATH=" .. helpers.root .. "/lua/?.lua;" .. helpers.root
      .. "/lua/?/init.lua;;")
    parts[#parts + 1] = q(os.getenv("ACR_LUA") or "lua5.4")
    parts[#parts + 1] = q(EXAMPLES .. script)
    for _, a in ipairs(args or {}) do parts[#parts + 1] = q(a) end
    local out, err = tmp .. "/stdout", tmp .. "/stderr"
    local _, shout, rc = helpers.sh(table.concat(parts, " ") .. " >" .. q(out) .. " 2>" .. q(err))
    assert(rc, "no exit status: " .. shout)
    return rc, helpers.read_file(out) or "", helpers.read_file(err) or ""
  end

  -- The names in a registry's ARM collection ("tokens", "scopeMaps"), sorted.
  local function names(coll)
    local status, _, body, json = em:arm("GET", em:registry_path() .. "/" .. coll)
    assert.are.equal(200, status, body)
    local list = {}
    for _, r in ipairs(json.value) do list[#list + 1] = r.name end
    table.sort(list)
    return list
  end
  local function user_maps()
    local list = {}
    for _, n in ipairs(names("scopeMaps")) do
      if not n:match("^_") then list[#list + 1] = n end   -- system maps start with _
    end
    return list
  end
  local SEED_TOKENS = { "seed-token-0001", "seed-token-0002", "seed-token-0003" }
  local SEED_MAPS = { "seed-map-0001", "seed-map-0002", "seed-map-0003" }

  local function disable(...)
    local c = ch.client(em)
    for _, name in ipairs { ... } do assert(c:disable_token(name)) end
    c:close()
  end

  describe("rotate-token.lua", function()
    it("runs every step, masks the passwords and leaves nothing behind", function()
      local rc, out, err = run("rotate-token.lua")
      assert.are.equal(0, rc, out .. err)
      assert.are.equal("", err)
      assert.are.equal("rotate-token: registry " .. ch.REG .. " in resource group " .. ch.RG
        .. " at " .. em.url .. "\n", out:match("^[^\n]*\n"))
      for i = 1, 7 do assert.matches("%[" .. i .. "/7%]", out) end
      assert.matches("token%-hello%-world%-%d+%s+enabled%s+<%- this run", out)
      assert.matches("ok: 4 tokens", out)
      assert.matches("is disabled", out)
      for _, n in ipairs { "password1", "password2" } do
        assert.matches(n .. " = %S%S%S%S… %(%d+ chars%), expires ", out)
      end
      assert.matches("deleted token token%-hello%-world%-%d+", out)
      assert.matches("deleted scope map pull%-hello%-world%-%d+", out)
      assert.matches("ok: nothing left behind", out)
      assert.matches("rotate%-token: all steps passed\n$", out)
      assert.are.same(SEED_TOKENS, names("tokens"))
      assert.are.same(SEED_MAPS, user_maps())
    end)

    it("--show-secrets prints the passwords whole; --repository names the resources", function()
      local rc, out, err = run("rotate-token.lua", { "--show-secrets", "--repository", "library/nginx" })
      assert.are.equal(0, rc, out .. err)
      assert.is_nil(out:find("chars)", 1, true))
      local p1 = out:match("password1 = (%S+), expires")
      local p2 = out:match("password2 = (%S+), expires")
      assert.is_truthy(p1 and #p1 >= 20, out)
      assert.is_truthy(p2 and #p2 >= 20, out)
      assert.are_not.equal(p1, p2)
      assert.matches("create scope map pull%-library%-nginx%-%d+: pull library/nginx", out)
      assert.matches("deleted token token%-library%-nginx%-%d+", out)
      assert.are.same(SEED_TOKENS, names("tokens"))
      assert.are.same(SEED_MAPS, user_maps())
    end)

    it("a step that fails is reported, exits 1 and is still cleaned up", function()
      em:admin("POST", "inject", { path = "/tokens/token-hello-world-", method = "PUT", status = 409,
        headers = { ["Content-Type"] = "application/json" },
        body = '{"error":{"code":"QuotaExceeded","message":"Token quota reached."}}' })
      local rc, out, err = run("rotate-token.lua")
      assert.are.equal(1, rc, out .. err)
      assert.matches("rotate%-token: step 2 failed: acr%.Error: QuotaExceeded: Token quota reached%.", err)
      assert.matches("deleted scope map pull%-hello%-world%-%d+", out)
      assert.matches("rotate%-token: FAILED\n$", out)
      assert.are.same(SEED_TOKENS, names("tokens"))
      assert.are.same(SEED_MAPS, user_maps())
    end)
  end)

  describe("audit.lua", function()
    -- seed-token-0002: one password expiring in 10 days, one in 180; seed-token-0003 disabled
    local function prepare()
      local c = ch.client(em)
      local function day(n) return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + n * 86400) end
      local tok = assert(c:get_token("seed-token-0002"))
      assert(tok:generate_credentials { name = "password1", expiry = day(10) })
      assert(tok:generate_credentials { name = "password2", expiry = day(180) })
      c:close()
      disable("seed-token-0003")
    end

    it("prints the table of tokens, actions and expiries", function()
      prepare()
      local rc, out, err = run("audit.lua")
      assert.are.equal(0, rc, out .. err)
      assert.are.equal("", err)
      local lines = {}
      for l in out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal(7, #lines, out)
      assert.matches("^TOKEN%s+STATUS%s+SCOPE MAP%s+ACTIONS%s+PASSWORDS$", lines[1])
      assert.matches("^%-+  %-+  %-+  %-+  %-+$", lines[2])
      assert.matches("^seed%-token%-0001%s+enabled%s+seed%-map%-0001%s+repositories/seed%-0001/content/read%s+none$",
        lines[3])
      assert.matches("^seed%-token%-0002%s+enabled%s+seed%-map%-0002%s+.*password1 %S+ %(expires soon, %d+ d left%)$",
        lines[4])
      assert.matches("^%s+password2 %S+ %(valid, 1[78]%d d left%)$", lines[5])
      assert.matches("^seed%-token%-0003%s+disabled%s+seed%-map%-0003%s", lines[6])
      assert.are.equal("3 tokens (2 enabled, 1 disabled); 0 passwords expired, 1 expire within 30 days; "
        .. "3 scope maps fetched", lines[7])
      -- the columns line up: PASSWORDS starts at the same place on every row
      local col = lines[1]:find("PASSWORDS", 1, true)
      assert.are.equal("password1", lines[4]:sub(col, col + 8))
      assert.are.equal("password2", lines[5]:sub(col, col + 8))
    end)

    it("--json prints valid JSON; --warn-days moves the threshold", function()
      prepare()
      local rc, out, err = run("audit.lua", { "--json", "--warn-days", "5" })
      assert.are.equal(0, rc, out .. err)
      local doc = cjson.decode(out)
      assert.are.equal(ch.REG, doc.registry)
      assert.are.equal(ch.RG, doc.resource_group)
      assert.are.equal(3, doc.scope_maps_fetched)
      assert.are.equal(3, #doc.tokens)
      local by = {}
      for _, t in ipairs(doc.tokens) do by[t.name] = t end
      assert.are.equal("disabled", by["seed-token-0003"].status)
      assert.are.equal("seed-map-0001", by["seed-token-0001"].scope_map)
      assert.are.same({ "repositories/seed-0001/content/read" }, by["seed-token-0001"].actions)
      local pw = by["seed-token-0002"].passwords
      assert.are.equal(2, #pw)
      assert.are.equal("password1", pw[1].name)
      assert.are.equal("valid", pw[1].state)        -- 10 days away, beyond --warn-days 5
      assert.is_true(pw[1].days_left >= 9 and pw[1].days_left <= 10)
      assert.are.same({}, by["seed-token-0001"].passwords)
    end)

    it("takes the connection as options as well as from the environment", function()
      local rc, out, err = run("audit.lua", {
        "--endpoint", em.url, "--ca-file=" .. em.ca_file, "--subscription", ch.SUB,
        "--resource-group", ch.RG, "--registry=" .. ch.REG,
      }, { ACR_ACCESS_TOKEN = token })
      assert.are.equal(0, rc, out .. err)
      assert.matches("\n3 tokens %(3 enabled, 0 disabled%)", out)
    end)
  end)

  describe("cleanup-disabled.lua", function()
    it("--dry-run lists the disabled tokens and deletes nothing", function()
      disable("seed-token-0001", "seed-token-0003")
      local rc, out, err = run("cleanup-disabled.lua", { "--dry-run" })
      assert.are.equal(0, rc, out .. err)
      assert.are.equal("cleanup-disabled: registry " .. ch.REG .. " has 3 tokens, 2 of them disabled\n"
        .. "  seed-token-0001\n  seed-token-0003\n"
        .. "cleanup-disabled: dry run: 2 tokens would be deleted, nothing was\n", out)
      assert.are.same(SEED_TOKENS, names("tokens"))
      assert.are.equal(0, ch.count_requests(em, "DELETE token"))
    end)

    it("--yes deletes exactly the disabled tokens", function()
      disable("seed-token-0001", "seed-token-0003")
      local rc, out, err = run("cleanup-disabled.lua", { "--yes" })
      assert.are.equal(0, rc, out .. err)
      assert.are.equal("", err)
      assert.matches("started 2 deletes", out)
      assert.matches("\n  deleted seed%-token%-0001 %(Succeeded%)\n  deleted seed%-token%-0003 %(Succeeded%)\n", out)
      assert.matches("cleanup%-disabled: 2 deleted, 0 failed, 1 tokens left, in [%d.]+ s\n$", out)
      assert.are.same({ "seed-token-0002" }, names("tokens"))
      assert.are.same(SEED_MAPS, user_maps())      -- scope maps stay
    end)

    it("--yes with nothing disabled deletes nothing", function()
      local rc, out, err = run("cleanup-disabled.lua", { "--yes" })
      assert.are.equal(0, rc, out .. err)
      assert.matches("cleanup%-disabled: nothing to delete\n$", out)
      assert.are.same(SEED_TOKENS, names("tokens"))
    end)
  end)

  describe("query.lua", function()
    it("prints the tokens shaped by the default expression", function()
      disable("seed-token-0002")
      local rc, out, err = run("query.lua")
      assert.are.equal(0, rc, out .. err)
      assert.are.equal("", err)
      assert.are.equal('[{"name":"seed-token-0001","status":"enabled"},'
        .. '{"name":"seed-token-0002","status":"disabled"},'
        .. '{"name":"seed-token-0003","status":"enabled"}]\n', out)
    end)

    it("--query filters them; an empty answer is []", function()
      disable("seed-token-0003")
      local rc, out, err = run("query.lua", { "--query", "[?properties.status=='disabled'].name" })
      assert.are.equal(0, rc, out .. err)
      assert.are.equal('["seed-token-0003"]\n', out)
      rc, out, err = run("query.lua", { "--query=[?name=='none'].name" })
      assert.are.equal(0, rc, out .. err)
      assert.are.equal("[]\n", out)
    end)

    it("a malformed expression is a usage error before any call; a failing one exits 1", function()
      local rc, out, err = run("query.lua", { "--query", "[?name==" })
      assert.are.equal(2, rc, out .. err)
      assert.are.equal("", out)
      assert.matches("^query: %-%-query: syntax error: ", err)
      assert.are.equal(0, em:stats().total)
      rc, out, err = run("query.lua", { "--query", "abs(@)" })
      assert.are.equal(1, rc, out .. err)
      assert.are.equal("", out)
      assert.matches("^query: invalid%-type error: abs%(%) expects argument 1 to be number, got array", err)
    end)
  end)

  describe("the command line", function()
    local function without(...)
      local env = connection()
      for _, k in ipairs { ... } do env[k] = false end
      return env
    end

    -- script, args, env (nil: the full connection), the message after "prog: "
    local USAGE_CASES = {
      { "rotate-token.lua", { "--bogus" }, nil, "unknown option --bogus" },
      { "rotate-token.lua", { "extra" }, nil, "unexpected argument 'extra'" },
      { "rotate-token.lua", { "--repository" }, nil, "--repository needs a value" },
      { "rotate-token.lua", { "--repository=" }, nil, "--repository must not be empty" },
      { "rotate-token.lua", { "--repository", "Bad//Name" }, nil,
        "--repository 'Bad//Name' is not a repository name" },
      { "rotate-token.lua", { "--verbose=yes" }, nil, "--verbose takes no value" },
      { "rotate-token.lua", {}, without("AZURE_SUBSCRIPTION_ID"),
        "--subscription is required (or set AZURE_SUBSCRIPTION_ID)" },
      { "audit.lua", { "--warn-days", "-1" }, nil, "--warn-days must be a number of days >= 0" },
      { "audit.lua", { "--show-secrets" }, nil, "unknown option --show-secrets" },
      { "audit.lua", {}, without("ACR_REGISTRY"), "--registry is required (or set ACR_REGISTRY)" },
      { "audit.lua", {}, without("ACR_ACCESS_TOKEN"),
        "ACR_ACCESS_TOKEN is not set (a bearer token for Azure Resource Manager)" },
      { "audit.lua", { "--endpoint", "ftp://example.com" }, nil,
        "option 'endpoint' is not an http(s) URL" },
      { "cleanup-disabled.lua", {}, nil,
        "say --dry-run to list the disabled tokens, or --yes to delete them" },
      { "cleanup-disabled.lua", { "--dry-run", "--yes" }, nil, "--dry-run and --yes exclude each other" },
      { "cleanup-disabled.lua", { "--yes" }, without("ACR_RESOURCE_GROUP"),
        "--resource-group is required (or set ACR_RESOURCE_GROUP)" },
    }

    it("usage errors exit 2 with the message and the usage, before any request", function()
      for _, c in ipairs(USAGE_CASES) do
        local script, args, env, msg = c[1], c[2], c[3], c[4]
        local prog = script:gsub("%.lua$", "")
        local what = script .. " " .. table.concat(args, " ")
        local rc, out, err = run(script, args, env)
        assert.are.equal(2, rc, what .. ": " .. out .. err)
        assert.are.equal("", out, what)
        assert.are.equal(prog .. ": " .. msg, err:sub(1, #prog + 2 + #msg), what .. ": " .. err)
        assert.matches("\n\nusage: " .. prog:gsub("%-", "%%-") .. "%.lua ", err, 1)
      end
      assert.are.equal(0, em:stats().total)
    end)

    it("--help prints the usage on stdout and exits 0", function()
      for _, script in ipairs { "rotate-token.lua", "audit.lua", "cleanup-disabled.lua" } do
        local rc, out, err = run(script, { "--help" }, {})
        assert.are.equal(0, rc, script .. ": " .. out .. err)
        assert.are.equal("", err)
        assert.matches("^usage: " .. script:gsub("%-", "%%-"):gsub("%.", "%%.") .. " ", out)
        assert.matches("ACR_ACCESS_TOKEN", out)
      end
    end)

    it("refuses a secret given as an argument, without echoing it (exit 2)", function()
      local cases = {
        { "rotate-token.lua", { "--token", "s3cr3t-value" }, "token" },
        { "audit.lua", { "--access-token=s3cr3t-value" }, "access-token" },
        { "cleanup-disabled.lua", { "--dry-run", "--password", "s3cr3t-value" }, "password" },
        { "audit.lua", { "--client-secret=s3cr3t-value" }, "client-secret" },
      }
      for _, c in ipairs(cases) do
        local rc, out, err = run(c[1], c[2])
        assert.are.equal(2, rc, c[1] .. ": " .. out .. err)
        assert.are.equal("", out)
        assert.matches("^[%w-]+: %-%-" .. c[3]:gsub("%-", "%%-")
          .. ": secrets are not taken as arguments; put the bearer token in ACR_ACCESS_TOKEN\n", err)
        assert.is_nil(err:find("s3cr3t-value", 1, true))
      end
      assert.are.equal(0, em:stats().total)
    end)

    it("a token ARM refuses fails the call: exit 1 with the error", function()
      local env = connection()
      env.ACR_ACCESS_TOKEN = "not-a-token-the-emulator-issued"
      local rc, out, err = run("audit.lua", {}, env)
      assert.are.equal(1, rc, out .. err)
      assert.are.equal("", out)
      assert.matches("^audit: acr%.Error: InvalidAuthenticationToken: ", err)
      assert.is_nil(err:find("not-a-token-the-emulator-issued", 1, true))

      rc, out, err = run("cleanup-disabled.lua", { "--dry-run" }, env)
      assert.are.equal(1, rc, out .. err)
      assert.matches("^cleanup%-disabled: acr%.Error: InvalidAuthenticationToken: ", err)

      rc, out, err = run("rotate-token.lua", {}, env)
      assert.are.equal(1, rc, out .. err)
      assert.matches("rotate%-token: step 1 failed: acr%.Error: InvalidAuthenticationToken: ", err)
      assert.matches("rotate%-token: FAILED\n$", out)
    end)
  end)
end)
