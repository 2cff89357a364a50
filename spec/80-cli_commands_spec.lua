-- bin/acr, run as a subprocess against the emulator over TLS: every command, its
-- output (parsed), exit statuses, usage errors, authentication, --no-wait.
local helpers = require "helpers"
local cjson = require "cjson.safe"

local q = helpers.quote
local TENANT = "00000000-0000-0000-0000-0000000000e1"
local SUB, RG, REG = "00000000-0000-0000-0000-000000000001", "rg-cli", "cliregistry"

-- Variables a developer's or a CI's environment may hold that would change what
-- the CLI does: each run starts without them.
local SCRUB = { "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST",
  "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE",
  "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "ACR_IMDS_ENDPOINT", "AZURE_SUBSCRIPTION_ID", "ACR_ENDPOINT",
  "ACR_REGISTRY", "ACR_RESOURCE_GROUP", "REQUESTS_CA_BUNDLE", "LUA_CPATH_5_4", "LUA_PATH_5_4",
  "AZURE_DEFAULTS_GROUP", "AZURE_DEFAULTS_ACR", "AZURE_CORE_OUTPUT" }

-- syntax: r = cli(em, args, opts?)  -- r.code, r.out, r.err, r.json
--   opts.env: extra variables (false unsets one of the defaults)
--   opts.bare: no --endpoint/--ca-file/-g/-r added
--   opts.stdout: a redirection of stdout (">/dev/full", ">&-"); r.out is then ""
local function cli(em, args, opts)
  opts = opts or {}
  local env = {
    AZURE_TENANT_ID = TENANT, AZURE_CLIENT_ID = em.client_id, AZURE_CLIENT_SECRET = em.client_secret,
    AZURE_AUTHORITY_HOST = em.url, AZURE_SUBSCRIPTION_ID = SUB,
    ACR_IMDS_ENDPOINT = "http://127.0.0.1:9",   -- managed identity: refused at once
    AZURE_CONFIG_DIR = helpers.root .. "/spec/no-such-azure-dir",   -- no az defaults or profile
    LUA_CPATH = (os.getenv("ACR_CPATH") or (helpers.root .. "/build/lua5.4/?.so")) .. ";;",
  }
  for k, v in pairs(opts.env or {}) do env[k] = v or nil end
  local parts = { "env" }
  for _, k in ipairs(SCRUB) do parts[#parts + 1] = "-u " .. k end
  for k, v in pairs(env) do parts[#parts + 1] = q(k .. "=" .. v) end
  parts[#parts + 1] = q(os.getenv("ACR_LUA") or "lua5.4")
  parts[#parts + 1] = q(helpers.root .. "/bin/acr")
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  if not opts.bare then
    for _, a in ipairs { "--endpoint", em.url, "--ca-file", em.ca_file, "-g", RG, "-r", REG } do
      parts[#parts + 1] = q(a)
    end
  end
  local errfile = os.tmpname()
  local _, out, code = helpers.sh(table.concat(parts, " ") .. " 2>" .. q(errfile) .. " </dev/null"
    .. (opts.stdout and (" " .. opts.stdout) or ""))
  local err = helpers.read_file(errfile) or ""
  os.remove(errfile)
  return { code = code, out = out, err = err, json = cjson.decode(out) }
end

local function path(em, kind, name)
  return em:registry_path(SUB, RG, REG) .. "/" .. kind .. "/" .. name
end

local function requests(em, key)
  return ((em:stats() or {}).requests or {})[key] or 0
end

local function pw_by_name(tok_json)
  local by = {}
  for _, p in ipairs(tok_json.properties.credentials.passwords or {}) do by[p.name] = p end
  return by
end

describe("acr command line #emulator #cli", function()
  local em
  setup(function()
    em = helpers.start_emulator{ tls = true, polls = 0, retry_after = 0,
      registries = { SUB .. "/" .. RG .. "/" .. REG } }
  end)
  teardown(function() if em then em:stop() end end)
  before_each(function() em:reset() end)
  after_each(function() em:settings{ polls = 0, retry_after = 0, token_lifetime = 3600 } end)

  local function acr(args, opts) return cli(em, args, opts) end

  local function make_map(name, ...)
    local r = acr({ "scope-map", "create", "-n", name, "--repository", "app", ... })
    assert.are.equal(0, r.code, r.err)
    return r
  end

  describe("usage", function()
    it("without a command: exit 2 and where the list of commands is, nothing sent", function()
      local r = acr({}, { bare = true })
      assert.are.equal(2, r.code)
      assert.matches("Try 'acr %-%-help'", r.err)
      assert.are.equal("", r.out)
      r = acr({ "token", "frobnicate" }, { bare = true })
      assert.are.equal(2, r.code)
      assert.matches("unknown command %(argument #2 after 'token'%)", r.err)
      assert.matches("Try 'acr token %-%-help'", r.err)
      assert.is_nil(r.err:find("frobnicate", 1, true))
      assert.are.equal(0, (em:stats() or {}).total or 0)
    end)

    it("never repeats a word that is not a command's", function()
      for _, case in ipairs {
        { { "hunter2-word", "list" }, "unknown command %(argument #1%)" },
        { { "token", "hunter2-word" }, "unknown command %(argument #2 after 'token'%)" },
        { { "-o", "json", "token", "credential", "hunter2-word" },
          "unknown command %(argument #5 after 'token credential'%)" },
        -- an unknown option's next argument may be its value: not a command word
        { { "--colour", "hunter2-word", "token", "list" }, "unknown option %-%-colour" },
        { { "token", "--colour", "hunter2-word", "list" }, "unknown option %-%-colour" },
        { { "-x", "hunter2-word", "token" }, "unknown option %-x" },
        { { "--colour", "token", "list" }, "unknown option %-%-colour" },
        { { "token", "list", "hunter2-word" }, "unexpected argument #3\n" },
        { { "token", "show", "-n", "tok-abc", "--description", "hunter2-word", "extra" },
          "unknown option %-%-description" },
        { { "token", "list", "-o", "hunter2-word", "more" }, "unexpected argument #5\n" },
      } do
        local r = acr(case[1])
        assert.are.equal(2, r.code, r.err)
        assert.matches(case[2], r.err:match("^[^\n]*\n"))
        assert.is_nil(r.err:find("hunter2", 1, true), r.err)
        assert.are.equal("", r.out)
      end
      assert.are.equal(0, (em:stats() or {}).total or 0)
    end)

    it("takes options before and between the command words", function()
      make_map("map-before", "content/read")
      local r = acr { "-n", "map-before", "scope-map", "show" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("map-before", r.json.name)
      r = acr { "--output", "tsv", "scope-map", "-n", "map-before", "show" }
      assert.are.equal(0, r.code, r.err)
      assert.matches("^map%-before\tUserDefined\t", r.out)
      r = acr { "--name=map-befor2", "--repository", "lib", "content/read", "metadata/read", "scope-map",
                "create", "--description", "made before" }
      assert.are.equal(0, r.code, r.err)
      assert.are.same({ "repositories/lib/content/read", "repositories/lib/metadata/read" },
        r.json.properties.actions)
      assert.are.equal("made before", r.json.properties.description)
      r = acr { "-y", "-n", "map-befor2", "scope-map", "delete" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(404, (em:arm("GET", path(em, "scopeMaps", "map-befor2"))))
    end)

    it("-h prints a command's help on stdout, exit 0", function()
      local r = acr({ "token", "create", "-h" }, { bare = true })
      assert.are.equal(0, r.code)
      assert.matches("usage: acr token create", r.out)
      assert.matches("%-%-expiration%-in%-days N", r.out)
      r = acr({ "token", "credential", "--help" }, { bare = true })
      assert.are.equal(0, r.code)
      assert.matches("token credential delete", r.out)
      r = acr({ "--version" }, { bare = true })
      assert.matches("^acr %d+%.%d+", r.out)
    end)

    local bad = {
      { "a missing --name", { "token", "show" }, "%-%-name is required" },
      { "an unknown option", { "token", "list", "--colour", "red" }, "unknown option %-%-colour" },
      { "a bad repository action", { "scope-map", "create", "-n", "map-bad", "--repository", "app", "content/rd" },
        "'content/rd' is not a repository action" },
      { "a bad gateway action", { "scope-map", "create", "-n", "map-bad", "--gateway", "edge1", "content/read" },
        "'content/read' is not a gateway action" },
      -- repository and gateway names by the module's rule for scope map actions (docs/API.md)
      { "a wildcard inside a repository name", { "scope-map", "create", "-n", "map-bad", "--repository", "app*",
        "content/read" }, "%-%-repository 'app%*' is not a repository name" },
      { "a wildcard before a repository name", { "token", "create", "-n", "tok-bad", "--repository", "*/app",
        "content/read" }, "%-%-repository '%*/app' is not a repository name" },
      { "two wildcards", { "scope-map", "update", "-n", "map-bad", "--repository", "a/*/*", "content/read" },
        "%-%-repository 'a/%*/%*' is not a repository name" },
      { "an upper-case repository", { "scope-map", "create", "-n", "map-bad", "--repository", "App",
        "content/read" }, "%-%-repository 'App' is not a repository name" },
      { "a component ending in a dot", { "scope-map", "create", "-n", "map-bad", "--repository", "team./app",
        "content/read" }, "%-%-repository 'team%./app' is not a repository name" },
      { "a hyphenated gateway", { "scope-map", "create", "-n", "map-bad", "--gateway", "edge-1", "config/read" },
        "%-%-gateway 'edge%-1' is not a gateway %(connected registry%) name" },
      { "a gateway of 4 characters", { "token", "create", "-n", "tok-bad", "--gateway", "edge", "config/read" },
        "%-%-gateway 'edge' is not a gateway" },
      -- before the scope map is read: nothing is sent
      { "a wildcard to add", { "scope-map", "update", "-n", "map-bad", "--add-repository", "app*", "content/read" },
        "%-%-add%-repository 'app%*' is not a repository name" },
      { "a hyphenated gateway to remove", { "scope-map", "update", "-n", "map-bad", "--remove-gateway", "edge-1",
        "config/read" }, "%-%-remove%-gateway 'edge%-1' is not a gateway" },
      { "a repository without actions", { "scope-map", "create", "-n", "map-bad", "--repository", "app" },
        "needs a name and at least one action" },
      { "no actions at all", { "scope-map", "create", "-n", "map-bad" }, "at least one %-%-repository" },
      { "--scope-map with --repository", { "token", "create", "-n", "tok-bad", "--scope-map", "m1234",
        "--repository", "app", "content/read" }, "not both" },
      { "a token without scope", { "token", "create", "-n", "tok-bad" }, "give %-%-scope%-map" },
      { "a bad status", { "token", "update", "-n", "tok-bad", "--status", "on" }, "enabled or disabled" },
      { "a bad --expiration", { "token", "credential", "generate", "-n", "tok-bad", "--expiration", "tomorrow" },
        "RFC 3339" },
      { "both expirations", { "token", "credential", "generate", "-n", "tok-bad", "--expiration-in-days", "3",
        "--expiration", "2030-01-01T00:00:00Z" }, "not both" },
      { "zero days", { "token", "create", "-n", "tok-bad", "--scope-map", "m1234", "--expiration-in-days", "0" },
        "whole number of days" },
      { "a bad --output", { "token", "list", "-o", "xml" }, "json, jsonc, yaml, yamlc, table, tsv or none" },
      { "a name the API refuses", { "token", "show", "-n", "x" }, "token name 'x' must be 5 to 50" },
      { "credential delete of nothing", { "token", "credential", "delete", "-n", "tok-bad", "--yes" },
        "%-%-password1, %-%-password2 or both" },
    }
    for _, case in ipairs(bad) do
      it("exit 2 with one line and where the command's help is for " .. case[1] .. ", nothing sent", function()
        local r = acr(case[2])
        assert.are.equal(2, r.code, r.err)
        assert.matches(case[3], r.err)
        assert.is_truthy(r.err:find("\nTry 'acr " .. case[2][1], 1, true))
        assert.is_nil(r.err:find("Connection (every command)", 1, true))
        assert.are.equal("", r.out)
        assert.are.equal(0, (em:stats() or {}).total or 0)
      end)
    end

    it("the subscription and registry are required (not the resource group), also from the environment", function()
      local r = acr({ "token", "list", "--endpoint", em.url, "--ca-file", em.ca_file, "-g", RG, "-r", REG },
                    { bare = true, env = { AZURE_SUBSCRIPTION_ID = false } })
      assert.are.equal(2, r.code)
      assert.matches("%-%-subscription is required %(or set AZURE_SUBSCRIPTION_ID, or a default subscription", r.err)
      r = acr({ "token", "list" }, { bare = true, env = { ACR_ENDPOINT = em.url, REQUESTS_CA_BUNDLE = em.ca_file,
                                                          ACR_REGISTRY = REG, ACR_RESOURCE_GROUP = RG } })
      assert.are.equal(0, r.code, r.err)
      assert.are.same({}, r.json)
      assert.are.equal("[]\n", r.out)
    end)

    it("refuses a secret given as an argument, without echoing it", function()
      for _, args in ipairs {
        { "token", "list", "--password", "hunter2-secret" },
        { "token", "list", "--client-secret=hunter2-secret" },
        { "token", "credential", "generate", "-n", "tok-abc", "--password1", "hunter2-secret" },
      } do
        local r = acr(args)
        assert.are.equal(2, r.code)
        assert.is_nil(r.err:find("hunter2", 1, true))
        assert.is_nil(r.out:find("hunter2", 1, true))
      end
      local r = acr({ "token", "list", "--password", "hunter2-secret" })
      assert.matches("secrets are not taken as arguments", r.err)
      assert.are.equal(0, (em:stats() or {}).total or 0)
    end)

    it("refuses a secret option wherever it stands, before, between or after the command words", function()
      for _, case in ipairs {
        { { "--password", "hunter2-secret", "token", "list" }, "%-%-password" },
        { { "-p", "hunter2-secret", "token", "list" }, "%-p" },
        { { "token", "--password", "hunter2-secret", "list" }, "%-%-password" },
        { { "token", "-p", "hunter2-secret", "list" }, "%-p" },
        { { "--client-secret=hunter2-secret", "token", "list" }, "%-%-client%-secret" },
        { { "--access-token", "hunter2-secret", "scope-map", "list" }, "%-%-access%-token" },
        { { "-n", "tok-abc", "token", "--certificate-password", "hunter2-secret", "show" },
          "%-%-certificate%-password" },
        -- after an unknown option, or on a line with other mistakes: still the secret's refusal
        { { "token", "list", "--colour", "red", "--password", "hunter2-secret" }, "%-%-password" },
        { { "hunter2-word", "--secret", "hunter2-secret" }, "%-%-secret" },
      } do
        local r = acr(case[1])
        assert.are.equal(2, r.code, r.err)
        assert.matches("^acr[^\n]*: error: " .. case[2] .. ": secrets are not taken as arguments", r.err)
        assert.is_nil(r.err:find("hunter2", 1, true), r.err)
        assert.is_nil(r.out:find("hunter2", 1, true), r.out)
      end
      assert.are.equal(0, (em:stats() or {}).total or 0)
    end)
  end)

  describe("scope-map", function()
    it("takes the repository wildcards ACR takes: '*' and a last '*' component", function()
      local r = acr({ "scope-map", "create", "-n", "map-wild", "--repository", "*", "metadata/read",
                      "--repository", "team/*", "content/read", "--repository", "a.b_c-d/e", "content/write" })
      assert.are.equal(0, r.code, r.err)
      assert.are.same({ "repositories/*/metadata/read", "repositories/team/*/content/read",
                        "repositories/a.b_c-d/e/content/write" }, r.json.properties.actions)
      r = acr({ "scope-map", "delete", "-n", "map-wild", "--yes" })
      assert.are.equal(0, r.code, r.err)
    end)

    it("create, show, update, list and delete, as ARM's JSON", function()
      local r = make_map("map-ci", "content/read", "metadata/read",
        "--gateway", "edge1", "config/read", "message/write", "--description", "CI pulls")
      local sm = r.json
      assert.are.equal("map-ci", sm.name)
      assert.are.equal(path(em, "scopeMaps", "map-ci"), sm.id)
      assert.are.same({ "repositories/app/content/read", "repositories/app/metadata/read",
                        "gateway/edge1/config/read", "gateway/edge1/message/write" }, sm.properties.actions)
      assert.are.equal("CI pulls", sm.properties.description)
      -- the emulator has it
      local st, _, _, doc = em:arm("GET", path(em, "scopeMaps", "map-ci"))
      assert.are.equal(200, st)
      assert.are.equal("CI pulls", doc.properties.description)

      r = acr { "scope-map", "show", "-n", "map-ci" }
      assert.are.equal(0, r.code, r.err)
      assert.are.same(sm.properties.actions, r.json.properties.actions)

      r = acr { "scope-map", "update", "-n", "map-ci", "--add-repository", "lib/tools", "content/write",
                "--remove-repository", "app", "metadata/read", "--remove-gateway", "edge1", "message/write",
                "--description", "CI pushes" }
      assert.are.equal(0, r.code, r.err)
      assert.are.same({ "repositories/app/content/read", "gateway/edge1/config/read",
                        "repositories/lib/tools/content/write" }, r.json.properties.actions)
      assert.are.equal("CI pushes", r.json.properties.description)
      _, _, _, doc = em:arm("GET", path(em, "scopeMaps", "map-ci"))
      assert.are.same(r.json.properties.actions, doc.properties.actions)

      r = acr { "scope-map", "update", "-n", "map-ci", "--repository", "only", "content/delete" }
      assert.are.equal(0, r.code, r.err)
      assert.are.same({ "repositories/only/content/delete" }, r.json.properties.actions)
      assert.are.equal("CI pushes", r.json.properties.description)

      r = acr { "scope-map", "list" }
      assert.are.equal(0, r.code, r.err)
      local names = {}
      for _, item in ipairs(r.json) do names[#names + 1] = item.name end
      assert.are.same({ "_repositories_admin", "_repositories_pull", "_repositories_push", "map-ci" }, names)

      r = acr { "scope-map", "delete", "-n", "map-ci", "--yes" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("", r.out)
      assert.are.equal(404, (em:arm("GET", path(em, "scopeMaps", "map-ci"))))
    end)

    it("update removing every action: exit 2, said plainly, nothing changed", function()
      make_map("map-all", "content/read", "metadata/read")
      local r = acr { "scope-map", "update", "-n", "map-all", "--remove-repository", "app", "content/read",
                      "metadata/read" }
      assert.are.equal(2, r.code, r.err)
      assert.matches("this would remove every action of scope map 'map%-all'; a scope map needs at least one",
        r.err)
      assert.are.equal(1, requests(em, "GET scopeMap"))
      assert.are.equal(0, requests(em, "PATCH scopeMap"))
      local _, _, _, doc = em:arm("GET", path(em, "scopeMaps", "map-all"))
      assert.are.equal(2, #doc.properties.actions)
    end)

    it("-o table and -o tsv", function()
      make_map("map-tab", "content/read", "--description", "tab\there")
      local r = acr { "scope-map", "list", "-o", "table" }
      assert.are.equal(0, r.code, r.err)
      local lines = {}
      for l in r.out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.matches("^NAME%s+TYPE%s+CREATION DATE%s+DESCRIPTION$", lines[1])
      assert.matches("^%-+  %-+", lines[2])
      assert.are.equal(6, #lines)
      assert.matches("^map%-tab%s+UserDefined%s+%d%d%d%d%-%S+%s+tab here$", lines[6])
      r = acr { "scope-map", "show", "-n", "map-tab", "-o", "tsv" }
      assert.are.equal(0, r.code, r.err)
      local f = {}
      for c in (r.out:gsub("\n$", "") .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = c end
      assert.are.equal("map-tab", f[1])
      assert.are.equal("UserDefined", f[2])
      assert.are.equal("tab here", f[4])
      assert.are.equal(4, #f)
    end)

    it("a service error: code and request ids on stderr (not found: exit 3; others: 1)", function()
      local r = acr { "scope-map", "show", "-n", "map-missing" }
      assert.are.equal(3, r.code)
      assert.are.equal("", r.out)
      assert.matches("ERROR: %(ResourceNotFound%) The resource map%-missing could not be found", r.err)
      assert.matches("Code: ResourceNotFound", r.err)
      assert.matches("Status: 404", r.err)
      assert.matches("Request id: %x+%-%x+%-%x+%-%x+%-%x+", r.err)
      local log = em:log()
      local last = log[#log]
      assert.are.equal(404, last.status)
      assert.matches("Client request id: " .. last.client_request_id:gsub("%-", "%%-"), r.err)
      -- a scope map the registry itself owns cannot be changed: ARM's 400
      r = acr { "scope-map", "update", "-n", "_repositories_pull", "--description", "mine" }
      assert.are.equal(1, r.code)
      assert.matches("Code: OperationNotAllowed", r.err)
      assert.matches("Status: 400", r.err)
    end)
  end)

  describe("token", function()
    it("create with --scope-map generates both passwords, expiring as asked", function()
      make_map("map-tok", "content/read")
      local before = os.time()
      local r = acr { "token", "create", "-n", "tok-ci", "--scope-map", "map-tok", "--expiration-in-days", "30" }
      assert.are.equal(0, r.code, r.err)
      local t = r.json
      assert.are.equal("tok-ci", t.name)
      assert.are.equal("enabled", t.properties.status)
      assert.are.equal(path(em, "scopeMaps", "map-tok"), t.properties.scopeMapId)
      assert.are.equal("tok-ci", t.properties.credentials.username)
      local pw = pw_by_name(t)
      assert.matches("^%S+$", pw.password1.value)
      assert.matches("^%S+$", pw.password2.value)
      assert.are_not.equal(pw.password1.value, pw.password2.value)
      local after = os.time()
      local matched = false
      for t = before - 2, after + 2 do
        matched = matched or os.date("!%Y-%m-%dT%H:%M:%SZ", t + 30 * 86400) == pw.password1.expiry
      end
      assert.is_true(matched, pw.password1.expiry)
      assert.are.equal(pw.password1.expiry, pw.password2.expiry)
      -- the registry has them (names and expiries, not values)
      local _, _, body, doc = em:arm("GET", path(em, "tokens", "tok-ci"))
      assert.are.equal(2, #doc.properties.credentials.passwords)
      assert.is_nil(body:find(pw.password1.value, 1, true))
      assert.are.equal(1, requests(em, "POST generateCredentials"))
      -- a secret is printed once, on stdout: never on stderr
      assert.is_nil(r.err:find(pw.password1.value, 1, true))
    end)

    it("create --no-passwords --status disabled generates none", function()
      make_map("map-nop", "content/read")
      local r = acr { "token", "create", "-n", "tok-nop", "--scope-map", "map-nop", "--no-passwords",
                      "--status", "disabled" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("disabled", r.json.properties.status)
      assert.are.same({}, r.json.properties.credentials.passwords)
      assert.matches('"passwords": %[%]', r.out)
      assert.are.equal(0, requests(em, "POST generateCredentials"))
    end)

    it("create --repository makes TOKEN-scope-map, as az does", function()
      local r = acr { "token", "create", "-n", "tok-repo", "--repository", "lib/x", "content/read",
                      "metadata/read", "--gateway", "edge2", "config/read", "--no-passwords" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(path(em, "scopeMaps", "tok-repo-scope-map"), r.json.properties.scopeMapId)
      local st, _, _, sm = em:arm("GET", path(em, "scopeMaps", "tok-repo-scope-map"))
      assert.are.equal(200, st)
      assert.are.same({ "repositories/lib/x/content/read", "repositories/lib/x/metadata/read",
                        "gateway/edge2/config/read" }, sm.properties.actions)
    end)

    it("update, show, list (json, table, tsv) and delete", function()
      make_map("map-a1", "content/read")
      make_map("map-b2", "content/write")
      assert.are.equal(0, acr({ "token", "create", "-n", "tok-one", "--scope-map", "map-a1", "--no-passwords" }).code)
      assert.are.equal(0, acr({ "token", "create", "-n", "tok-two", "--scope-map", "map-a1",
                                "--expiration", "2031-02-03T04:05:06Z", "-o", "none" }).code)
      local r = acr { "token", "update", "-n", "tok-one", "--status", "disabled", "--scope-map", "map-b2" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("disabled", r.json.properties.status)
      assert.are.equal(path(em, "scopeMaps", "map-b2"), r.json.properties.scopeMapId)
      local _, _, _, doc = em:arm("GET", path(em, "tokens", "tok-one"))
      assert.are.equal("disabled", doc.properties.status)

      r = acr { "token", "show", "-n", "tok-two" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("2031-02-03T04:05:06Z", pw_by_name(r.json).password2.expiry)
      assert.is_nil(pw_by_name(r.json).password2.value)

      r = acr { "token", "list" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(2, #r.json)
      assert.are.same({ "tok-one", "tok-two" }, { r.json[1].name, r.json[2].name })

      r = acr { "token", "list", "-o", "tsv" }
      assert.are.equal(0, r.code, r.err)
      local rows = {}
      for l in r.out:gmatch("[^\n]+") do
        local f = {}
        for c in (l .. "\t"):gmatch("([^\t]*)\t") do f[#f + 1] = c end
        rows[#rows + 1] = f
      end
      assert.are.equal(2, #rows)
      assert.are.same({ "tok-one", "map-b2", "disabled", "", "" },
        { rows[1][1], rows[1][2], rows[1][3], rows[1][4], rows[1][5] })
      assert.are.same({ "tok-two", "map-a1", "enabled", "2031-02-03T04:05:06Z", "2031-02-03T04:05:06Z" },
        { rows[2][1], rows[2][2], rows[2][3], rows[2][4], rows[2][5] })

      r = acr { "token", "list", "-o", "table" }
      assert.matches("^NAME%s+SCOPE MAP%s+STATUS%s+PASSWORD1 EXPIRY", r.out)
      assert.matches("\ntok%-two%s+map%-a1%s+enabled%s+2031%-02%-03T04:05:06Z", r.out)

      r = acr { "token", "delete", "-n", "tok-one", "-y" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(404, (em:arm("GET", path(em, "tokens", "tok-one"))))
    end)

    it("credential generate: one password or both, as {username, passwords}", function()
      make_map("map-cred", "content/read")
      assert.are.equal(0, acr({ "token", "create", "-n", "tok-cred", "--scope-map", "map-cred",
                                "--no-passwords" }).code)
      local r = acr { "token", "credential", "generate", "-n", "tok-cred", "--password2",
                      "--expiration", "2030-06-01T00:00:00Z" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("tok-cred", r.json.username)
      assert.are.equal(1, #r.json.passwords)
      assert.are.equal("password2", r.json.passwords[1].name)
      assert.are.equal("2030-06-01T00:00:00Z", r.json.passwords[1].expiry)
      assert.matches("^%S+$", r.json.passwords[1].value)
      local _, _, _, doc = em:arm("GET", path(em, "tokens", "tok-cred"))
      assert.are.equal(1, #doc.properties.credentials.passwords)
      assert.are.equal("password2", doc.properties.credentials.passwords[1].name)

      r = acr { "token", "credential", "generate", "-n", "tok-cred", "-o", "tsv" }
      assert.are.equal(0, r.code, r.err)
      local lines = {}
      for l in r.out:gmatch("[^\n]+") do lines[#lines + 1] = l end
      assert.are.equal(2, #lines)
      assert.matches("^tok%-cred\tpassword1\t%S+\t\t%d", lines[1])
      assert.matches("^tok%-cred\tpassword2\t%S+\t\t%d", lines[2])
    end)

    it("credential delete PATCHes the token with the passwords it keeps", function()
      make_map("map-del", "content/read")
      assert.are.equal(0, acr({ "token", "create", "-n", "tok-del", "--scope-map", "map-del", "-o", "none" }).code)
      local _, _, _, before = em:arm("GET", path(em, "tokens", "tok-del"))
      local old = pw_by_name(before)
      local patches = requests(em, "PATCH token")
      local r = acr { "token", "credential", "delete", "-n", "tok-del", "--password1", "--yes" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(patches + 1, requests(em, "PATCH token"))
      assert.are.equal("tok-del", r.json.name)
      local _, _, _, after = em:arm("GET", path(em, "tokens", "tok-del"))
      local now = pw_by_name(after)
      -- password2 was sent to be kept and kept as it was; password1 was left out and is gone
      assert.is_nil(now.password1)
      assert.truthy(now.password2)
      assert.are.equal(old.password2.creationTime, now.password2.creationTime)
      -- the last one: the list sent is empty, an array ARM accepts
      r = acr { "token", "credential", "delete", "-n", "tok-del", "--password2", "--yes" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(patches + 2, requests(em, "PATCH token"))
      local _, _, _, last = em:arm("GET", path(em, "tokens", "tok-del"))
      assert.is_nil(next(pw_by_name(last)))
    end)

    it("credential delete without --yes and no terminal: it does not ask, as az does not", function()
      make_map("map-ask", "content/read")
      assert.are.equal(0, acr({ "token", "create", "-n", "tok-ask", "--scope-map", "map-ask", "-o", "none" }).code)
      local r = acr { "token", "credential", "delete", "-n", "tok-ask", "--password1" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(1, requests(em, "PATCH token"))
    end)

    it("credential delete of a password the token lacks: exit 1, nothing PATCHed", function()
      make_map("map-lack", "content/read")
      assert.are.equal(0, acr({ "token", "create", "-n", "tok-lack", "--scope-map", "map-lack",
                                "--no-passwords" }).code)
      local r = acr { "token", "credential", "delete", "-n", "tok-lack", "--password2", "--yes" }
      assert.are.equal(1, r.code)
      assert.matches("token 'tok%-lack' has no password2", r.err)
      assert.are.equal(0, requests(em, "PATCH token"))
    end)

    it("a failed operation: exit 1 with the operation's code", function()
      make_map("map-fail", "content/read")
      em:fail_next{ name = "tok-fail", code = "QuotaExceeded", message = "Token quota reached." }
      local r = acr { "token", "create", "-n", "tok-fail", "--scope-map", "map-fail" }
      assert.are.equal(1, r.code)
      assert.matches("ERROR: %(QuotaExceeded%) Token quota reached%.", r.err)
      assert.are.equal("", r.out)
      assert.are.equal(0, requests(em, "POST generateCredentials"))
    end)
  end)

  describe("lost output", function()
    it("a full disk: exit 1, and generated passwords are said to be lost", function()
      make_map("map-full", "content/read")
      assert.are.equal(0, acr({ "token", "create", "-n", "tok-full", "--scope-map", "map-full",
                                "--no-passwords" }).code)
      local r = acr({ "token", "credential", "generate", "-n", "tok-full", "--password1" },
                    { stdout = ">/dev/full" })
      assert.are.equal(1, r.code, r.err)
      assert.matches("^acr: cannot write the output: %S", r.err)
      assert.matches("acr: the new passwords of token 'tok%-full' were generated but not delivered: "
        .. "generate them again", r.err)
      assert.are.equal(1, requests(em, "POST generateCredentials"))
      r = acr({ "token", "create", "-n", "tok-full2", "--scope-map", "map-full" }, { stdout = ">/dev/full" })
      assert.are.equal(1, r.code, r.err)
      assert.matches("passwords of token 'tok%-full2' were generated but not delivered", r.err)
      -- output without a secret: only the failure
      r = acr({ "token", "list" }, { stdout = ">/dev/full" })
      assert.are.equal(1, r.code, r.err)
      assert.matches("^acr: cannot write the output: %S[^\n]*\n$", r.err)
      r = acr({ "token", "create", "-h" }, { bare = true, stdout = ">/dev/full" })
      assert.are.equal(1, r.code, r.err)
      assert.matches("^acr: cannot write the output:", r.err)
      -- nothing to write: nothing lost
      r = acr({ "token", "credential", "generate", "-n", "tok-full", "-o", "none" }, { stdout = ">/dev/full" })
      assert.are.equal(0, r.code, r.err)
    end)

    it("a closed stdout: exit 1 before anything is sent", function()
      make_map("map-shut", "content/read")
      assert.are.equal(0, acr({ "token", "create", "-n", "tok-shut", "--scope-map", "map-shut",
                                "--no-passwords" }).code)
      local before = (em:stats() or {}).total or 0
      local r = acr({ "token", "credential", "generate", "-n", "tok-shut", "--password1" }, { stdout = ">&-" })
      assert.are.equal(1, r.code, r.err)
      assert.matches("^acr: cannot write the output: %S", r.err)
      assert.are.equal(before, (em:stats() or {}).total or 0)
      r = acr({ "--version" }, { bare = true, stdout = ">&-" })
      assert.are.equal(1, r.code, r.err)
      -- -o none writes nothing, so it still runs
      r = acr({ "token", "credential", "generate", "-n", "tok-shut", "--password1", "-o", "none" },
              { stdout = ">&-" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(1, requests(em, "POST generateCredentials"))
    end)
  end)

  describe("--no-wait", function()
    it("starts the operation and prints its status and request id", function()
      make_map("map-nw", "content/read")
      em:settings{ polls = 3 }
      local r = acr { "token", "create", "-n", "tok-nw", "--scope-map", "map-nw", "--no-wait" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("InProgress", r.json.status)
      assert.matches("^%x+%-%x+%-%x+%-%x+%-%x+$", r.json.request_id)
      assert.matches("no passwords were generated", r.err)
      assert.are.equal(1, requests(em, "PUT token"))
      assert.are.equal(0, requests(em, "GET operationStatus"))
      assert.are.equal(0, requests(em, "POST generateCredentials"))
      local put
      for _, e in ipairs(em:log()) do if e.kind == "PUT token" then put = e end end
      assert.are.equal(r.json.request_id, put.client_request_id)
      local _, _, _, doc = em:arm("GET", path(em, "tokens", "tok-nw"))
      assert.are.equal("Creating", doc.properties.provisioningState)

      r = acr { "scope-map", "delete", "-n", "map-nw", "--no-wait", "--yes", "-o", "tsv" }
      assert.are.equal(0, r.code, r.err)
      assert.matches("^InProgress\t%x+%-", r.out)
      assert.are.equal(1, requests(em, "DELETE scopeMap"))
    end)

    it("an operation refused at once is still an error", function()
      local r = acr { "token", "update", "-n", "tok-none", "--status", "disabled", "--no-wait" }
      assert.are.equal(3, r.code)
      assert.matches("Code: ResourceNotFound", r.err)
    end)
  end)

  describe("credentials and TLS", function()
    it("a refused client secret: exit 1, AuthenticationFailed, the secret not shown", function()
      local r = acr({ "token", "list" }, { env = { AZURE_CLIENT_SECRET = "wrong-secret-hunter2" } })
      assert.are.equal(1, r.code)
      assert.matches("ERROR: %(AuthenticationFailed%)", r.err)
      assert.matches("AADSTS7000215", r.err)
      assert.is_nil(r.err:find("hunter2", 1, true))
      assert.are.equal(0, requests(em, "GET tokens"))
    end)

    it("ARM's 401 and 403: exit 1", function()
      local arm401 = '{"error":{"code":"InvalidAuthenticationToken","message":"The access token is invalid."}}'
      -- twice: the client drops its token after a 401 and tries once more
      em:admin("POST", "inject", { path = "/tokens", method = "GET", status = 401, times = 2, body = arm401,
        headers = { ["x-ms-request-id"] = "11111111-2222-3333-4444-555555555555",
                    ["Content-Type"] = "application/json" } })
      local r = acr { "token", "list" }
      assert.are.equal(1, r.code, r.err)
      assert.matches("ERROR: %(InvalidAuthenticationToken%)", r.err)
      assert.matches("Status: 401", r.err)
      assert.matches("Request id: 11111111%-2222%-3333%-4444%-555555555555", r.err)
      em:admin("POST", "inject", { path = "/tokens", method = "GET", status = 403, body =
        '{"error":{"code":"AuthorizationFailed","message":"The client does not have authorization."}}' })
      r = acr { "token", "list" }
      assert.are.equal(1, r.code, r.err)
      assert.matches("Code: AuthorizationFailed", r.err)
    end)

    it("a service error with control characters: shown without them", function()
      em:admin("POST", "inject", { path = "/tokens", method = "GET", status = 409,
        body = '{"error":{"code":"Con\\u001b[2Jflict","message":"bad\\u001b]0;owned\\u0007 thing\\nsecond line"}}' })
      local r = acr { "token", "list" }
      assert.are.equal(1, r.code, r.err)
      assert.is_nil(r.err:find("\27", 1, true))
      assert.is_nil(r.err:find("\7", 1, true))
      -- the module takes the escape sequences out whole (err.code and err.message)
      assert.matches("ERROR: %(Con flict%) bad thing second line", r.err, 1, false)
    end)

    it("managed identity through the default chain; a refused one: exit 1", function()
      em:admin("POST", "identity", { header = "cli-header" })
      local msi = { AZURE_CLIENT_SECRET = false, AZURE_TENANT_ID = false,
                    IDENTITY_ENDPOINT = em.url .. "/msi/token", IDENTITY_HEADER = "cli-header" }
      local r = acr({ "token", "list" }, { env = msi })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(1, requests(em, "GET msi"))
      msi.IDENTITY_HEADER = "not-the-header"
      r = acr({ "token", "list" }, { env = msi })
      assert.are.equal(1, r.code)
      assert.matches("AuthenticationFailed", r.err)
    end)

    it("REQUESTS_CA_BUNDLE trusts the emulator's CA; without a CA, TLS fails", function()
      local args = { "token", "list", "--endpoint", em.url, "-g", RG, "-r", REG }
      local r = acr(args, { bare = true, env = { REQUESTS_CA_BUNDLE = em.ca_file } })
      assert.are.equal(0, r.code, r.err)
      assert.are.same({}, r.json)
      assert.are.equal(1, requests(em, "GET tokens"))
      -- the token endpoint is the first to fail: a TlsError while getting a token, exit 1
      r = acr(args, { bare = true })
      assert.are.equal(1, r.code)
      assert.matches("TlsError", r.err)
      assert.are.equal(1, requests(em, "GET tokens"))
    end)

    it("--endpoint must be https (http only on loopback): exit 2", function()
      local r = acr({ "token", "list", "--endpoint", "http://example.com", "-g", RG, "-r", REG }, { bare = true })
      assert.are.equal(2, r.code)
      assert.matches("endpoint", r.err)
    end)
  end)
end)
