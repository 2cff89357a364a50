-- acr audit and acr.audit against the emulator: two registries in two subscriptions,
-- found through ARM's registry lists; every flag set on some token and absent on
-- others; the order of the rows; -o json, table, tsv and --query; subscriptions by
-- id, by name and by default; a registry (or a list) that fails is a row, and the rest
-- is still audited; usage errors; no secret in any output.
-- Hermetic: HOME, AZURE_CONFIG_DIR and PATH are the spec's own temp dirs; the emulator
-- is the only server (127.0.0.1).
local helpers = require "helpers"
local cli = require "cli_helpers"
local cjson = require "cjson.safe"

local q = helpers.quote
local SUB_A, SUB_B = "00000000-0000-0000-0000-0000000000a1", "00000000-0000-0000-0000-0000000000b2"
local RG_A, RG_B, REG_A, REG_B = "rg-prod", "rg-dev", "auditprod1", "auditdev2"
local DAY = 86400


local function iso(t) return os.date("!%Y-%m-%dT%H:%M:%SZ", t) end
local function esc(s) return (s:gsub("%p", "%%%0")) end   -- s as a pattern that matches it

-- The tokens the seed makes, and the flags each must have (with the default options).
local EXPECTED = {
  [REG_A] = {
    ["clean-tok"] = {},
    ["expired-tok"] = { "expired" },
    ["soon-tok"] = { "expires_soon" },
    ["never-tok"] = { "never_expires" },
    ["nopass-tok"] = { "no_password" },
  },
  [REG_B] = {
    ["clean-two"] = {},
    ["disabled-live"] = { "disabled_with_live_passwords" },
    ["disabled-dead"] = { "expired" },
    ["wild-tok"] = { "wildcard_scope" },
    ["pull-tok"] = { "wildcard_scope" },
    ["broad-tok"] = { "broad_scope" },
    ["orphan-tok"] = { "missing_scope_map" },
  },
}

describe("acr audit #emulator #cli", function()
  local em, tmp, home, bin
  local now

  local function reg_path(sub, rg, reg) return em:registry_path(sub, rg, reg) end
  local function put(sub, rg, reg, rel, body)
    local st, _, text = em:arm("PUT", reg_path(sub, rg, reg) .. rel, { body = body })
    assert(st == 200 or st == 201, rel .. ": " .. tostring(st) .. " " .. tostring(text))
  end
  local function map(sub, rg, reg, name, repos)
    local actions = {}
    for _, r in ipairs(repos) do actions[#actions + 1] = "repositories/" .. r .. "/content/read" end
    put(sub, rg, reg, "/scopeMaps/" .. name, { properties = { actions = actions } })
  end
  -- passwords: { name = expiry or false (none) }
  local function token(sub, rg, reg, name, map_name, status, passwords)
    local list = {}
    for _, n in ipairs { "password1", "password2" } do
      if passwords[n] ~= nil then list[#list + 1] = { name = n, expiry = passwords[n] or nil } end
    end
    local props = { scopeMapId = reg_path(sub, rg, reg) .. "/scopeMaps/" .. map_name, status = status }
    if #list > 0 then props.credentials = { passwords = list } end
    put(sub, rg, reg, "/tokens/" .. name, { properties = props })
  end

  -- The registries' scope maps and tokens, EXPECTED's: expiries around now.
  local function seed()
    em:reset()
    em:settings{ page_size = 100 }
    now = os.time()
    local later, soon, past = iso(now + 100 * DAY), iso(now + 5 * DAY), "2020-01-01T00:00:00Z"
    map(SUB_A, RG_A, REG_A, "one-repo", { "app" })
    token(SUB_A, RG_A, REG_A, "clean-tok", "one-repo", nil, { password1 = later, password2 = later })
    token(SUB_A, RG_A, REG_A, "expired-tok", "one-repo", nil, { password1 = past, password2 = later })
    token(SUB_A, RG_A, REG_A, "soon-tok", "one-repo", nil, { password1 = soon })
    token(SUB_A, RG_A, REG_A, "never-tok", "one-repo", nil, { password2 = false })
    token(SUB_A, RG_A, REG_A, "nopass-tok", "one-repo", nil, {})
    local many = {}
    for i = 1, 11 do many[i] = ("repo%02d"):format(i) end
    map(SUB_B, RG_B, REG_B, "one-repo", { "app" })
    map(SUB_B, RG_B, REG_B, "team-wide", { "team/*" })
    map(SUB_B, RG_B, REG_B, "many-repos", many)
    map(SUB_B, RG_B, REG_B, "gone-map", { "app" })
    token(SUB_B, RG_B, REG_B, "clean-two", "one-repo", "enabled", { password1 = later })
    token(SUB_B, RG_B, REG_B, "disabled-live", "one-repo", "disabled", { password1 = later })
    token(SUB_B, RG_B, REG_B, "disabled-dead", "one-repo", "disabled", { password1 = past })
    token(SUB_B, RG_B, REG_B, "wild-tok", "team-wide", nil, { password1 = later })
    token(SUB_B, RG_B, REG_B, "pull-tok", "_repositories_pull", nil, { password1 = later })
    token(SUB_B, RG_B, REG_B, "broad-tok", "many-repos", nil, { password1 = later })
    token(SUB_B, RG_B, REG_B, "orphan-tok", "gone-map", nil, { password1 = later })
    assert.are.equal(200, (em:arm("DELETE", reg_path(SUB_B, RG_B, REG_B) .. "/scopeMaps/gone-map")))
  end

  setup(function()
    em = helpers.start_emulator{ tls = true, polls = 0, retry_after = 0, lro_style = "body",
      registries = { SUB_A .. "/" .. RG_A .. "/" .. REG_A, SUB_B .. "/" .. RG_B .. "/" .. REG_B },
      subscription_names = { [SUB_A] = "Prod Sub", [SUB_B] = "Dev Sub" } }
    tmp = helpers.tmpdir("acr-audit")
    home, bin = tmp .. "/home", tmp .. "/bin"   -- PATH: an empty folder (no az)
    helpers.sh("mkdir -p " .. q(home) .. " " .. q(bin))
    seed()
  end)
  teardown(function()
    if em then em:stop() end
    helpers.rmdir(tmp)
  end)

  -- Every output of acr is searched for the secrets there are: the client secret and
  -- each bearer token the emulator issued.
  local function assert_no_secret(r)
    local secrets = { em.client_secret }
    for _, t in ipairs(em:admin("GET", "issued") or {}) do secrets[#secrets + 1] = t end
    for _, s in ipairs(secrets) do
      assert.is_nil(r.out:find(s, 1, true), "a secret on stdout")
      assert.is_nil(r.err:find(s, 1, true), "a secret on stderr")
    end
    assert.is_nil((r.out .. r.err):lower():find("bearer", 1, true))
  end

  -- syntax: r = acr(args, env?)  -- r.code, r.out, r.err, r.json; --endpoint, --ca-file
  -- and --verbose (so stderr shows every exchange, which must hold no secret) are added.
  local function acr(args, env)
    local vars = { HOME = home, PATH = bin }
    for k, v in pairs(env or {}) do vars[k] = v end
    local r = cli.run(em, args, { vars = vars, errfile = tmp .. "/stderr",
      extra = { "--endpoint", em.url, "--ca-file", em.ca_file, "--verbose" } })
    assert_no_secret(r)
    return r
  end

  local BOTH = { "audit", "--subscription", SUB_A, "--subscription", SUB_B }
  local function audit(extra, env)
    local args = {}
    for _, a in ipairs(BOTH) do args[#args + 1] = a end
    for _, a in ipairs(extra or {}) do args[#args + 1] = a end
    return acr(args, env)
  end

  local function by_token(rows)
    local t = {}
    for _, row in ipairs(rows) do if row.token then t[row.token] = row end end
    return t
  end

  local function inject(t) return assert(em:admin("POST", "inject", t)) end

  describe("the rows", function()
    it("-o json: every token of both registries, with its registry, status, scope map, actions, passwords and flags", function()
      local r = audit()
      assert.are.equal(0, r.code, r.err)
      assert.is_table(r.json)
      local n = 0
      for reg, toks in pairs(EXPECTED) do
        for name, flags in pairs(toks) do
          n = n + 1
          local row = by_token(r.json)[name]
          assert.is_table(row, name)
          assert.are.equal(reg, row.registry, name)
          assert.are.same(flags, row.flags, name)
          assert.are.equal(reg == REG_A and SUB_A or SUB_B, row.subscription)
          assert.are.equal(reg == REG_A and RG_A or RG_B, row.resource_group)
          assert.is_nil(row.error)
        end
      end
      assert.are.equal(n, #r.json)
      local rows = by_token(r.json)
      -- the fields of one token, and its two password slots with creation and expiry
      local exp = rows["expired-tok"]
      assert.are.equal("enabled", exp.status)
      assert.are.equal("one-repo", exp.scope_map)
      assert.are.equal(reg_path(SUB_A, RG_A, REG_A) .. "/scopeMaps/one-repo", exp.scope_map_id)
      assert.are.same({ "repositories/app/content/read" }, exp.actions)
      assert.are.same({ "app" }, exp.repositories)
      assert.are.equal(2, #exp.passwords)
      assert.are.equal("password1", exp.passwords[1].name)
      assert.are.equal("2020-01-01T00:00:00Z", exp.passwords[1].expiry)
      assert.are.equal("expired", exp.passwords[1].state)
      assert.is_true(exp.passwords[1].days_left < 0)
      assert.matches("^%d%d%d%d%-%d%d%-%d%dT", exp.passwords[1].creation_time)
      assert.are.equal("valid", exp.passwords[2].state)
      assert.are.equal("expires_soon", rows["soon-tok"].passwords[1].state)
      assert.is_true(rows["soon-tok"].passwords[1].days_left <= 5)
      assert.are.equal("never_expires", rows["never-tok"].passwords[1].state)
      assert.is_nil(rows["never-tok"].passwords[1].expiry)
      assert.are.equal("password2", rows["never-tok"].passwords[1].name)
      assert.are.same({}, rows["nopass-tok"].passwords)        -- [] in the JSON text
      assert.is_truthy(r.out:find('"passwords": []', 1, true))
      assert.are.equal("disabled", rows["disabled-live"].status)
      assert.are.same({ "team/*" }, rows["wild-tok"].repositories)
      assert.are.same({ "*" }, rows["pull-tok"].repositories)
      assert.are.equal(11, #rows["broad-tok"].repositories)
      assert.are.equal("gone-map", rows["orphan-tok"].scope_map)   -- from its id
      assert.are.same({}, rows["orphan-tok"].actions)
      -- no password value anywhere: ARM lists none
      assert.is_nil(r.out:find('"value"', 1, true))
    end)

    it("tokens with flags first, then the rest; each part by registry, then token name", function()
      local r = audit()
      assert.are.equal(0, r.code, r.err)
      local got = {}
      for i, row in ipairs(r.json) do got[i] = row.registry .. "/" .. row.token end
      assert.are.same({
        REG_B .. "/broad-tok", REG_B .. "/disabled-dead", REG_B .. "/disabled-live",
        REG_B .. "/orphan-tok", REG_B .. "/pull-tok", REG_B .. "/wild-tok",
        REG_A .. "/expired-tok", REG_A .. "/never-tok", REG_A .. "/nopass-tok", REG_A .. "/soon-tok",
        REG_B .. "/clean-two", REG_A .. "/clean-tok",
      }, got)
    end)

    it("--warn-days and --max-repositories move the thresholds", function()
      local r = audit { "--warn-days", "3", "--max-repositories", "11" }
      assert.are.equal(0, r.code, r.err)
      local rows = by_token(r.json)
      assert.are.same({}, rows["soon-tok"].flags)
      assert.are.equal("valid", rows["soon-tok"].passwords[1].state)
      assert.are.same({}, rows["broad-tok"].flags)
      r = audit { "--warn-days", "200", "--max-repositories", "0" }
      rows = by_token(r.json)
      assert.are.same({ "expires_soon", "broad_scope" }, rows["clean-tok"].flags)
      assert.are.same({ "expired", "expires_soon", "broad_scope" }, rows["expired-tok"].flags)
      assert.are.same({ "never_expires", "broad_scope" }, rows["never-tok"].flags)
      assert.are.same({ "no_password", "broad_scope" }, rows["nopass-tok"].flags)
    end)

    it("the same after paging: every page of the registry lists and of the token lists", function()
      em:settings{ page_size = 1 }
      local before = ((em:stats() or {}).requests or {})
      local r = audit()
      em:settings{ page_size = 100 }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(12, #r.json)
      assert.are.same({ "broad_scope" }, r.json[1].flags)
      local after = ((em:stats() or {}).requests or {})
      local lists = 0
      for k, v in pairs(after) do
        if k:find("^GET") then lists = lists + v - (before[k] or 0) end
      end
      assert.is_true(lists >= 2 + 12 + 6, "pages of one: " .. lists)
    end)
  end)

  describe("formats", function()
    it("-o table: a header, a rule, one line per row, the flags last", function()
      local r = audit { "-o", "table" }
      assert.are.equal(0, r.code, r.err)
      local lines = {}
      for l in r.out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal(14, #lines)
      assert.matches("^REGISTRY%s+TOKEN%s+STATUS%s+SCOPE MAP%s+REPOSITORIES%s+PASSWORD1 EXPIRY%s+PASSWORD2 EXPIRY%s+FLAGS$", lines[1])
      assert.matches("^%-+  %-+", lines[2])
      assert.matches("^auditdev2%s+broad%-tok%s+enabled%s+many%-repos%s+11%s+%S+%s+broad_scope$", lines[3])
      local never = r.out:match("\n(auditprod1%s+never%-tok[^\n]*)")
      assert.matches("%s+never%s+never_expires$", never)
      assert.matches("^auditprod1%s+clean%-tok%s+enabled%s+one%-repo%s+1%s+%S+Z%s+%S+Z$", lines[14])
      assert.is_nil(r.out:find("\t", 1, true))
    end)

    it("-o tsv: the same columns, tab-separated, no header", function()
      local r = audit { "-o", "tsv" }
      assert.are.equal(0, r.code, r.err)
      local n = 0
      for l in r.out:gmatch("[^\n]+") do
        n = n + 1
        local f = {}
        for c in (l .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = c end
        assert.are.equal(8, #f, l)
        if f[2] == "nopass-tok" then
          assert.are.same({ REG_A, "nopass-tok", "enabled", "one-repo", "1", "", "", "no_password" }, f)
        end
        if f[2] == "disabled-live" then assert.are.equal("disabled_with_live_passwords", f[8]) end
      end
      assert.are.equal(12, n)
    end)

    it("--query filters the rows before -o formats them", function()
      local r = audit { "--query", "[?contains(flags, 'expired')].token", "-o", "tsv" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("disabled-dead\nexpired-tok\n", r.out)
      r = audit { "--query", "[?length(flags) == `0`].{registry: registry, token: token}", "-o", "table" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("Registry    Token\n----------  ---------\nauditdev2   clean-two\nauditprod1  clean-tok\n", r.out)
      r = audit { "--query", "length(@)" }
      assert.are.equal("12\n", r.out)
      r = audit { "--query", "[?token=='never-tok'] | [0].passwords[0]", "-o", "yaml" }
      if r.code == 0 then   -- -o yaml needs lua-yaml
        assert.matches("state: never_expires", r.out)
      end
      r = audit { "-o", "none" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("", r.out)
    end)
  end)

  describe("subscriptions", function()
    it("by name, once each however often and however spelled", function()
      local r = acr { "audit", "--subscription", "prod SUB", "--subscription", SUB_A:upper(),
                      "--subscription", SUB_A, "--query", "[].token", "-o", "tsv" }
      assert.are.equal(0, r.code, r.err)
      local n = 0
      for tok in r.out:gmatch("[^\n]+") do
        n = n + 1
        assert.is_not_nil(EXPECTED[REG_A][tok], tok)
      end
      assert.are.equal(5, n)
    end)

    it("none given: AZURE_SUBSCRIPTION_ID's, else az's default, else a usage error", function()
      local r = acr({ "audit", "--query", "[].registry", "-o", "tsv" }, { AZURE_SUBSCRIPTION_ID = SUB_B })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(7, select(2, r.out:gsub(REG_B .. "\n", "")))
      assert.is_nil(r.out:find(REG_A, 1, true))
      r = acr { "audit" }
      assert.are.equal(2, r.code, r.err)
      assert.matches("%-%-subscription is required", r.err)
    end)

    it("an unknown name fails (exit 1) without repeating it, nothing audited", function()
      local r = acr { "audit", "--subscription", SUB_A, "--subscription", "hunter2 sub" }
      assert.are.equal(1, r.code, r.err)
      assert.matches("Subscription not found", r.err)
      assert.is_nil(r.err:find("hunter2", 1, true))
      assert.are.equal("", r.out)
    end)

    it("a subscription with no registry has no rows", function()
      local r = acr { "audit", "--subscription", "00000000-0000-0000-0000-0000000000f0" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("[]\n", r.out)
    end)
  end)

  describe("concurrency", function()
    -- The registry GETs that were in flight at once, at most, from the emulator's log.
    local function most_at_once()
      local spans = {}
      for _, e in ipairs(em:log() or {}) do
        if e.method == "GET" and e.path:find("Microsoft.ContainerRegistry", 1, true) then
          spans[#spans + 1] = e
        end
      end
      local most = 0
      for _, a in ipairs(spans) do
        local n = 0
        for _, b in ipairs(spans) do
          -- (a margin: the log's times are the server's, to the millisecond)
          if b.start <= a.start and a.start < b.time - 0.05 then n = n + 1 end
        end
        most = math.max(most, n)
      end
      return most, #spans
    end

    it("lists the registries' pages at once, at most --width of them", function()
      seed()
      em:settings{ latency_ms = 150 }
      local r = audit()
      assert.are.equal(0, r.code, r.err)
      local most, n = most_at_once()
      assert.are.equal(6, n)                -- 2 registry lists, 2 × (tokens, scope maps)
      assert.is_true(most >= 2, "in flight at once: " .. most)
      seed()
      em:settings{ latency_ms = 150 }
      r = audit { "--width", "1" }
      em:settings{ latency_ms = 0 }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(12, #r.json)
      most = most_at_once()
      assert.are.equal(1, most)
    end)
  end)

  describe("failures", function()
    before_each(seed)

    local DENIED = '{"error":{"code":"AuthorizationFailed","message":"no access to this registry"}}'

    it("a registry whose tokens cannot be listed is a row (exit 1); the other is audited", function()
      inject { path = "/registries/" .. REG_B .. "/tokens", method = "GET", status = 403, body = DENIED }
      local r = audit()
      assert.are.equal(1, r.code, r.err)
      assert.matches("ERROR: registry 'auditdev2' %(subscription " .. esc(SUB_B)
        .. "%) could not be audited: %(AuthorizationFailed%) no access to this registry", r.err)
      local first = r.json[1]
      assert.are.same({ "audit_failed" }, first.flags)
      assert.are.equal(REG_B, first.registry)
      assert.are.equal(RG_B, first.resource_group)
      assert.are.equal(SUB_B, first.subscription)
      assert.are.equal("AuthorizationFailed", first.error.code)
      assert.are.equal(403, first.error.status)
      assert.is_nil(first.token)
      assert.are.equal(6, #r.json)      -- the failure and the 5 tokens of the other registry
      for i = 2, 6 do assert.are.equal(REG_A, r.json[i].registry) end
      r = audit { "-o", "table" }   -- the injection was used: all is well again
      assert.are.equal(0, r.code, r.err)
      inject { path = "/registries/" .. REG_B .. "/scopeMaps", method = "GET", status = 403, body = DENIED }
      r = audit { "-o", "table" }
      assert.are.equal(1, r.code, r.err)
      assert.matches("\nauditdev2%s+audit_failed %(AuthorizationFailed%)\n", r.out)
    end)

    it("a subscription whose registry list fails is a row without a registry", function()
      inject { path = "/subscriptions/" .. SUB_B .. "/providers/Microsoft.ContainerRegistry/registries",
               method = "GET", status = 403, body = DENIED }
      local r = audit()
      assert.are.equal(1, r.code, r.err)
      assert.matches("ERROR: the registries of subscription " .. esc(SUB_B) .. " could not be audited", r.err)
      assert.are.equal(SUB_B, r.json[1].subscription)
      assert.is_nil(r.json[1].registry)
      assert.are.equal(6, #r.json)
    end)

    it("a registry list item that is not a registry of the subscription: a row, and nothing sent for it", function()
      local good = reg_path(SUB_B, RG_B, REG_B)
      local body = cjson.encode { value = {
        { id = good, name = REG_B },
        { id = reg_path(SUB_A, RG_A, "evilreg1"), name = "evilreg1" },   -- another subscription's
        { id = good:gsub(REG_B .. "$", "evilreg2/../" .. REG_B), name = REG_B },
        { id = good, name = "evilreg3" },                                 -- a name not its id's
        { id = good:gsub(REG_B .. "$", "x"), name = "x" },                -- no registry's name
        "evilreg4",
        { id = good, name = REG_B },                                      -- twice: audited once
      } }
      inject { path = "/subscriptions/" .. SUB_B .. "/providers/Microsoft.ContainerRegistry/registries",
               method = "GET", status = 200, body = body }
      local r = audit()
      assert.are.equal(1, r.code, r.err)
      local failed, tokens = 0, 0
      for _, row in ipairs(r.json) do
        if row.error then
          failed = failed + 1
          assert.are.equal("InvalidResponse", row.error.code)
          assert.are.equal(SUB_B, row.subscription)
          assert.is_nil(row.registry)
        else
          tokens = tokens + 1
        end
      end
      assert.are.equal(5, failed)
      assert.are.equal(12, tokens)
      for _, e in ipairs(em:log() or {}) do
        assert.is_nil(e.path:find("evilreg", 1, true), e.path)
      end
    end)

    it("an expiry that is not a time is flagged, not taken for none", function()
      local id = reg_path(SUB_B, RG_B, REG_B)
      inject { path = "/registries/" .. REG_B .. "/tokens", method = "GET", status = 200,
        body = cjson.encode { value = { { id = id .. "/tokens/odd-tok", name = "odd-tok",
          type = "Microsoft.ContainerRegistry/registries/tokens", properties = { status = "enabled",
            scopeMapId = id .. "/scopeMaps/one-repo",
            credentials = { passwords = { { name = "password1", expiry = "next tuesday" } } } } } } } }
      local r = audit { "--query", "[?registry=='" .. REG_B .. "']" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(1, #r.json)
      assert.are.same({ "unreadable_expiry" }, r.json[1].flags)
      assert.are.equal("unreadable", r.json[1].passwords[1].state)
    end)
  end)

  describe("usage", function()
    it("bad values and options that are not audit's: exit 2, nothing sent", function()
      local before = (em:stats() or {}).total or 0
      local cases = {
        { { "--warn-days", "soon" }, "%-%-warn%-days must be a whole number from 0 to 36500" },
        { { "--warn-days", "-1" }, "%-%-warn%-days must be a whole number" },
        { { "--max-repositories", "1.5" }, "%-%-max%-repositories must be a whole number" },
        { { "--width", "0" }, "%-%-width must be a whole number from 1 to 1000" },
        { { "--width", "99999999999" }, "%-%-width must be a whole number" },
        { { "-r", REG_A }, "unknown option %-r" },
        { { "--registry", REG_A }, "unknown option %-%-registry" },
        { { "-g", RG_A }, "unknown option %-g" },
        { { "--name", "x" }, "unknown option %-%-name" },
        { { "--query", "[?" }, "%-%-query is not a valid JMESPath expression" },
        { { "-o", "xml" }, "%-%-output must be json" },
        { { "--subscription" }, "%-%-subscription needs a value" },
        { { "stray" }, "unexpected argument" },
      }
      for _, c in ipairs(cases) do
        local r = audit(c[1])
        assert.are.equal(2, r.code, table.concat(c[1], " ") .. ": " .. r.err)
        assert.matches("^acr audit: error: " .. c[2], r.err)
        assert.matches("Try 'acr audit %-%-help'", r.err)
        assert.are.equal("", r.out)
      end
      assert.are.equal(before, (em:stats() or {}).total or 0)
    end)

    it("--help lists audit's options, and no -r, -g", function()
      local r = acr { "audit", "--help" }
      assert.are.equal(0, r.code, r.err)
      assert.matches("^usage: acr audit ", r.out)
      for _, o in ipairs { "--subscription", "--warn-days", "--max-repositories", "--width", "--query", "--output" } do
        assert.is_truthy(r.out:find(o, 1, true), o)
      end
      assert.is_nil(r.out:find("--registry", 1, true))
      assert.is_nil(r.out:find("--resource-group", 1, true))
      assert.are.equal(1, select(2, r.out:gsub("\n%s+%-%-subscription ", "")))
      r = acr { "--help" }
      assert.matches("\n  audit  +Audit every token", r.out)
    end)
  end)
end)

describe("acr.audit #emulator", function()
  local acr = require "acr"
  local audit = require "acr.audit"
  local em, cred

  setup(function()
    em = helpers.start_emulator{ polls = 0, retry_after = 0,
      registries = { SUB_A .. "/" .. RG_A .. "/" .. REG_A, SUB_B .. "/" .. RG_B .. "/" .. REG_B } }
    cred = acr.credential.static(em:token(86400))
  end)
  teardown(function() if em then em:stop() end end)

  local function maker(made, refuse)
    return function(where)
      if refuse and refuse(where) then return nil, "no client for this one" end
      local c = acr.client { subscription_id = where.subscription, credential = cred, endpoint = em.url,
        resource_group = where.resource_group or "none", registry = where.registry or "noregistry" }
      made[#made + 1] = c
      return c
    end
  end

  it("closes every client it was given; a client function that gives none is that registry's failure", function()
    local made = {}
    local report = audit.run { subscriptions = { SUB_A, SUB_B }, width = 2, now = os.time(),
      client = maker(made, function(w) return w.registry == REG_B end) }
    assert.are.equal(1, report.failed)
    assert.are.equal(1, report.registries)
    assert.are.equal(1, #report.rows)
    assert.are.equal(REG_B, report.rows[1].registry)
    assert.are.equal("no client for this one", report.rows[1].error.message)
    assert.are.equal(3, #made)    -- two subscription lists, one registry
    for _, c in ipairs(made) do
      assert.has_error(function() c:endpoint() end)   -- closed
    end
  end)

  it("now decides what has expired", function()
    local path = em:registry_path(SUB_A, RG_A, REG_A)
    assert(em:arm("PUT", path .. "/scopeMaps/one-repo",
      { body = { properties = { actions = { "repositories/app/content/read" } } } }))
    assert(em:arm("PUT", path .. "/tokens/dated-tok", { body = { properties = {
      scopeMapId = path .. "/scopeMaps/one-repo",
      credentials = { passwords = { { name = "password1", expiry = "2030-06-15T00:00:00Z" } } } } } }))
    local function flags_at(t)
      local r = audit.run { subscriptions = { SUB_A }, now = t, client = maker({}) }
      return r.rows[1].flags
    end
    local june = 1907712000   -- 2030-06-15T00:00:00Z
    assert.are.same({}, flags_at(june - 40 * DAY))
    assert.are.same({ "expires_soon" }, flags_at(june - 10 * DAY))
    assert.are.same({ "expired" }, flags_at(june))
  end)

  it("misuse raises, naming the option", function()
    local function raises(opts, msg)
      local ok, err = pcall(audit.run, opts)
      assert.is_false(ok)
      assert.matches("bad argument #1 to 'acr.audit.run' %(" .. msg, err)
    end
    raises({ subscriptions = { SUB_A } }, "option 'client' is required")
    raises({ client = print }, "option 'subscriptions' is required")
    raises({ client = print, subscriptions = { "a/b" } }, "option 'subscriptions' item 1 is not a subscription id")
    raises({ client = print, subscriptions = {}, width = 0 }, "option 'width' must be a whole number")
    raises({ client = print, subscriptions = {}, warn_days = 1.5 }, "option 'warn_days' must be a whole number")
    raises({ client = print, subscriptions = {}, nope = 1 }, "unknown option 'nope'")
    raises({ client = "f", subscriptions = {} }, "option 'client' must be a function")
    local ok, err = pcall(audit.run, "x")
    assert.is_false(ok)
    assert.matches("table of options expected, got string", err)
  end)

  it("registry_id reads a registry's id, and nothing else", function()
    local s, g, n = audit.registry_id(
      "/subscriptions/" .. SUB_A .. "/resourceGroups/My.Group(1)/providers/microsoft.containerregistry/REGISTRIES/Reg12345")
    assert.are.same({ SUB_A, "My.Group(1)", "Reg12345" }, { s, g, n })
    for _, bad in ipairs {
      "/subscriptions/" .. SUB_A .. "/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/reg1",  -- short
      "/subscriptions/" .. SUB_A .. "/resourceGroups/rg./providers/Microsoft.ContainerRegistry/registries/registry1",
      "/subscriptions/" .. SUB_A .. "/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/registry1/tokens",
      "/subscriptions/" .. SUB_A .. "/resourceGroups/rg/providers/Microsoft.Other/registries/registry1",
      "/subscriptions/a%2fb/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/registry1",
      "/subscriptions/" .. SUB_A .. "/resourceGroups/../providers/Microsoft.ContainerRegistry/registries/registry1",
      "subscriptions/" .. SUB_A .. "/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/registry1",
      "/subscriptions/" .. SUB_A .. "/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/regi-stry1",
      42,
    } do
      assert.is_nil(audit.registry_id(bad), tostring(bad))
    end
  end)
end)
