-- bin/acr against the emulator, for what a runbook relies on (issue 12, items 3 and 4):
-- exit statuses as az's, a usage error's one line, --debug without a secret,
-- --only-show-errors, credential delete without a prompt, token create run twice,
-- the token's own scope map reused or refused, --dry-run sending no write, and the
-- login hint after token create.
--
-- Hermetic: acr runs under `env -i` with only what is set here: a HOME of its own (with
-- an empty ~/.azure), a PATH whose first directory holds an `az` that fails (so that the
-- Azure CLI of the machine, if any, is never reached), the emulator's credentials.
local helpers = require "helpers"
local cjson = require "cjson.safe"

local q = helpers.quote
local TENANT = "00000000-0000-0000-0000-0000000000e1"
local SUB, RG, REG = "00000000-0000-0000-0000-000000000001", "rg-safe", "saferegistry"

-- Passed through when set: the loopback guard of the test run and the sanitizers' options.
local PASS = { "ACR_LOOPBACK_GUARD", "ASAN_OPTIONS", "UBSAN_OPTIONS" }

describe("acr command line, safe to rerun #emulator #cli", function()
  local em, home
  setup(function()
    em = helpers.start_emulator{ tls = true, polls = 0, retry_after = 0,
      registries = { SUB .. "/" .. RG .. "/" .. REG } }
    home = helpers.tmpdir("acr-cli-safety")
    assert(helpers.sh("mkdir -p " .. q(home .. "/.azure") .. " " .. q(home .. "/bin")))
    helpers.write_file(home .. "/bin/az", "#!/bin/sh\necho 'az: not here' >&2\nexit 1\n")
    assert(helpers.sh("chmod +x " .. q(home .. "/bin/az")))
  end)
  teardown(function()
    if em then em:stop() end
    if home then helpers.rmdir(home) end
  end)
  before_each(function() em:reset() end)

  -- syntax: r = acr(args, opts?)  -- r.code, r.out, r.err, r.json
  --   opts.env: variables to add or (false) to drop; opts.bare: no connection options
  local function acr(args, opts)
    opts = opts or {}
    local env = {
      HOME = home, AZURE_CONFIG_DIR = home .. "/.azure", PATH = home .. "/bin:/usr/bin:/bin",
      AZURE_TENANT_ID = TENANT, AZURE_CLIENT_ID = em.client_id, AZURE_CLIENT_SECRET = em.client_secret,
      AZURE_AUTHORITY_HOST = em.url, AZURE_SUBSCRIPTION_ID = SUB,
      ACR_IMDS_ENDPOINT = "http://127.0.0.1:9",
      LUA_CPATH = (os.getenv("ACR_CPATH") or (helpers.root .. "/build/lua5.4/?.so")) .. ";;",
    }
    for _, k in ipairs(PASS) do env[k] = os.getenv(k) end
    for k, v in pairs(opts.env or {}) do env[k] = v or nil end
    local parts = { "env -i" }
    for k, v in pairs(env) do parts[#parts + 1] = q(k .. "=" .. v) end
    parts[#parts + 1] = q(os.getenv("ACR_LUA") or "lua5.4")
    parts[#parts + 1] = q(helpers.root .. "/bin/acr")
    for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
    if not opts.bare then
      for _, a in ipairs { "--endpoint", em.url, "--ca-file", em.ca_file, "-g", RG, "-r", REG } do
        parts[#parts + 1] = q(a)
      end
    end
    local errfile = home .. "/stderr"
    local _, out, code = helpers.sh(table.concat(parts, " ") .. " 2>" .. q(errfile) .. " </dev/null")
    local err = helpers.read_file(errfile) or ""
    os.remove(errfile)
    return { code = code, out = out, err = err, json = cjson.decode(out) }
  end

  local function path(kind, name)
    return em:registry_path(SUB, RG, REG) .. "/" .. kind .. "/" .. name
  end

  local function requests(key)
    return ((em:stats() or {}).requests or {})[key] or 0
  end

  -- The methods the emulator was sent ARM requests with since the log was read last.
  local seen = 0
  local function writes_since()
    local log, n = em:log() or {}, 0
    for i = seen + 1, #log do
      local e = log[i]
      if e.method ~= "GET" and not (e.path or ""):find("oauth2", 1, true) then n = n + 1 end
    end
    seen = #log
    return n
  end

  local function ok(args, opts)
    local r = acr(args, opts)
    assert.are.equal(0, r.code, r.err)
    return r
  end

  local function make_map(name, ...)
    return ok { "scope-map", "create", "-n", name, "--repository", "app", ... }
  end

  local function passwords(name)
    local _, _, _, doc = em:arm("GET", path("tokens", name))
    local by = {}
    for _, p in ipairs(doc.properties.credentials.passwords or {}) do by[p.name] = p end
    return by
  end

  describe("exit statuses, as az's", function()
    it("0 success, 2 usage, 3 not found, 1 a service error or a refused credential", function()
      assert.are.equal(0, acr({ "token", "list" }).code)
      assert.are.equal(2, acr({ "token", "show" }).code)
      -- a token, a scope map, a registry that are not there: ARM's 404, exit 3
      for _, args in ipairs {
        { "token", "show", "-n", "tok-missing" },
        { "scope-map", "show", "-n", "map-missing" },
        { "token", "update", "-n", "tok-missing", "--status", "disabled" },
        { "token", "credential", "generate", "-n", "tok-missing" },
      } do
        local r = acr(args)
        assert.are.equal(3, r.code, r.err)
        assert.matches("Code: ResourceNotFound", r.err)
        assert.matches("Status: 404", r.err)
      end
      local r = acr({ "token", "list", "--endpoint", em.url, "--ca-file", em.ca_file, "-g", RG,
                      "-r", "nosuchregistry" }, { bare = true })
      assert.are.equal(3, r.code, r.err)
      -- deleting what is not there: ARM's 204, exit 0, as az
      r = acr { "token", "delete", "-n", "tok-missing", "--yes" }
      assert.are.equal(0, r.code, r.err)
      -- a service failure: 1
      em:admin("POST", "inject", { path = "/tokens", method = "GET", status = 409,
        body = '{"error":{"code":"Conflict","message":"busy"}}' })
      r = acr { "token", "list" }
      assert.are.equal(1, r.code, r.err)
      assert.matches("Code: Conflict", r.err)
      -- authentication refused: 1 (no longer 3, which a ported script reads as not found)
      r = acr({ "token", "list" }, { env = { AZURE_CLIENT_SECRET = "wrong-secret-hunter2" } })
      assert.are.equal(1, r.code, r.err)
      assert.matches("AuthenticationFailed", r.err)
      assert.is_nil(r.err:find("hunter2", 1, true))
      -- ARM's 404 for the token endpoint is authentication too, not a missing resource
      r = acr({ "token", "list" }, { env = { AZURE_AUTHORITY_HOST = em.url .. "/nowhere" } })
      assert.are.equal(1, r.code, r.err)
    end)

    it("a usage error: its one line and where the help is, not the help", function()
      local r = acr { "token", "create", "-n", "tok-use" }
      assert.are.equal(2, r.code)
      assert.are.equal("acr token create: error: give --scope-map, or --repository/--gateway to make one\n"
        .. "Try 'acr token create --help'\n", r.err)
      r = acr { "token", "credential", "generate", "-n", "tok-use", "--expiration", "soon" }
      assert.are.equal(2, r.code)
      assert.matches("^acr token credential generate: error: [^\n]*RFC 3339[^\n]*\n"
        .. "Try 'acr token credential generate %-%-help'\n$", r.err)
      r = acr({ "token", "frobnicate" }, { bare = true })
      assert.are.equal(2, r.code)
      assert.are.equal("acr token: error: unknown command (argument #2 after 'token')\n"
        .. "Try 'acr token --help'\n", r.err)
      r = acr({}, { bare = true })
      assert.are.equal(2, r.code)
      assert.are.equal("acr: error: a command is required\nTry 'acr --help'\n", r.err)
      assert.are.equal(0, (em:stats() or {}).total or 0)
    end)
  end)

  describe("--debug and --only-show-errors", function()
    it("--debug: a line per request with its request id, and no secret anywhere on stderr", function()
      make_map("map-dbg", "content/read")
      writes_since()
      local r = ok { "token", "create", "-n", "tok-dbg", "--scope-map", "map-dbg", "--debug" }
      local pw = {}
      for _, p in ipairs(r.json.properties.credentials.passwords) do pw[#pw + 1] = p.value end
      assert.are.equal(2, #pw)
      local lines = {}
      for l in r.err:gmatch("[^\n]+") do
        if l:find(" %-> %d%d%d %(") then lines[#lines + 1] = l end
      end
      -- every request acr sent (the token endpoint's too) is one line, with its request id
      local log = em:log()
      local sent = 0
      for i = seen + 1, #log do
        sent = sent + 1
        local rid = log[i].client_request_id
        if rid then assert.is_truthy(r.err:find("request id " .. rid, 1, true), rid .. "\n" .. r.err) end
      end
      assert.are.equal(sent, #lines, r.err)
      assert.matches("PUT https://127%.0%.0%.1:%d+/subscriptions/[^ ]*/tokens/tok%-dbg%?api%-version=[^ ]* %-> 20%d", r.err)
      assert.matches("POST [^ ]*/generateCredentials", r.err)
      -- no secret: the client secret, the bearer tokens issued, the new passwords
      local secrets = { em.client_secret }
      for _, t in ipairs(em:admin("GET", "issued") or {}) do secrets[#secrets + 1] = t end
      assert.is_true(#secrets >= 2)
      for _, v in ipairs(pw) do secrets[#secrets + 1] = v end
      for _, s in ipairs(secrets) do assert.is_nil(r.err:find(s, 1, true), "a secret on stderr") end
      assert.is_nil(r.err:lower():find("bearer", 1, true))
    end)

    it("--debug shows a retry decision", function()
      em:admin("POST", "inject", { path = "/tokens", method = "GET", status = 503, times = 1,
        body = '{"error":{"code":"ServiceUnavailable","message":"later"}}' })
      local r = ok { "token", "list", "--debug" }
      assert.matches("%-> 503 %(", r.err)
      assert.matches("retry 1/%d in [%d.]+ s %(HTTP 503%)", r.err)
    end)

    it("--only-show-errors: no warning, errors still shown", function()
      make_map("map-quiet", "content/read")
      local r = ok { "token", "create", "-n", "tok-warn", "--scope-map", "map-quiet" }
      assert.matches("WARNING: ", r.err)
      r = ok { "token", "create", "-n", "tok-quiet", "--scope-map", "map-quiet", "--only-show-errors" }
      assert.are.equal("", r.err)
      r = ok { "token", "create", "-n", "tok-quiet2", "--scope-map", "map-quiet", "--no-wait" }
      assert.matches("WARNING: %-%-no%-wait: no passwords were generated", r.err)
      r = ok { "token", "create", "-n", "tok-quiet3", "--scope-map", "map-quiet", "--no-wait",
               "--only-show-errors" }
      assert.are.equal("", r.err)
      r = ok { "token", "create", "-n", "tok-quiet", "--scope-map", "map-quiet", "--overwrite",
               "--only-show-errors", "-o", "none" }
      assert.are.equal("", r.err)
      r = acr { "token", "show", "-n", "tok-none", "--only-show-errors" }
      assert.are.equal(3, r.code)
      assert.matches("ERROR: ", r.err)
    end)
  end)

  it("credential delete does not ask, as az does not: no --yes, no terminal, it runs", function()
    make_map("map-cd", "content/read")
    ok { "token", "create", "-n", "tok-cd", "--scope-map", "map-cd", "-o", "none" }
    local r = ok { "token", "credential", "delete", "-n", "tok-cd", "--password1" }
    assert.is_nil(r.err:find("Are you sure", 1, true))
    assert.are.equal(1, requests("PATCH token"))
    assert.is_nil(passwords("tok-cd").password1)
    assert.truthy(passwords("tok-cd").password2)
    -- token delete still refuses without --yes when there is no terminal
    r = acr { "token", "delete", "-n", "tok-cd" }
    assert.are.equal(2, r.code)
    assert.are.equal(0, requests("DELETE token"))
  end)

  describe("token create, run twice", function()
    it("fails (exit 1) on a token that exists, its passwords untouched; --overwrite replaces them", function()
      make_map("map-twice", "content/read")
      ok { "token", "create", "-n", "tok-twice", "--scope-map", "map-twice", "-o", "none" }
      local before = passwords("tok-twice")
      local r = acr { "token", "create", "-n", "tok-twice", "--scope-map", "map-twice" }
      assert.are.equal(1, r.code, r.err)
      assert.matches("ERROR: token 'tok%-twice' already exists", r.err)
      assert.matches("use `acr token update` or `acr token credential generate`", r.err:lower())
      assert.are.equal("", r.out)
      assert.are.equal(1, requests("PUT token"))
      assert.are.equal(1, requests("POST generateCredentials"))
      local now = passwords("tok-twice")
      assert.are.equal(before.password1.creationTime, now.password1.creationTime)
      assert.are.equal(before.password2.creationTime, now.password2.creationTime)
      -- the same with --repository: refused before its scope map is made
      r = acr { "token", "create", "-n", "tok-twice", "--repository", "app", "content/read" }
      assert.are.equal(1, r.code, r.err)
      assert.are.equal(1, requests("PUT scopeMap"))
      assert.are.equal(404, (em:arm("GET", path("scopeMaps", "tok-twice-scope-map"))))

      os.execute("sleep 1")
      r = ok { "token", "create", "-n", "tok-twice", "--scope-map", "map-twice", "--overwrite" }
      assert.matches("WARNING: token 'tok%-twice' exists: %-%-overwrite replaces it", r.err)
      assert.are.equal(2, requests("PUT token"))
      assert.are.equal(2, requests("POST generateCredentials"))
      now = passwords("tok-twice")
      assert.are_not.equal(before.password1.creationTime, now.password1.creationTime)
    end)

    it("reuses its own scope map when the actions are the same (any order), refuses others", function()
      local r = ok { "token", "create", "-n", "tok-own", "--repository", "app", "content/read",
                     "metadata/read", "--no-passwords" }
      assert.are.equal(1, requests("PUT scopeMap"))
      ok { "token", "delete", "-n", "tok-own", "--yes" }
      r = ok { "token", "create", "-n", "tok-own", "--repository", "app", "metadata/read",
               "content/read", "--no-passwords" }
      assert.are.equal(1, requests("PUT scopeMap"))
      assert.are.equal(path("scopeMaps", "tok-own-scope-map"), r.json.properties.scopeMapId)
      ok { "token", "delete", "-n", "tok-own", "--yes" }
      r = acr { "token", "create", "-n", "tok-own", "--repository", "app", "content/write" }
      assert.are.equal(1, r.code, r.err)
      assert.matches("The default scope map was already configured with different repository permissions%.\n"
        .. "Please use \"acr scope%-map update %-n tok%-own%-scope%-map %-%-add%-repository", r.err)
      assert.are.equal(1, requests("PUT scopeMap"))
      assert.are.equal(2, requests("PUT token"))
      local _, _, _, sm = em:arm("GET", path("scopeMaps", "tok-own-scope-map"))
      assert.are.same({ "repositories/app/content/read", "repositories/app/metadata/read" },
        sm.properties.actions)
    end)
  end)

  describe("--dry-run", function()
    local function dry(args, method, url_tail, says)
      writes_since()
      local r = ok(args)
      assert.are.equal(0, writes_since(), "a write was sent: " .. table.concat(args, " "))
      local found
      for m in r.out:gmatch("\n  (" .. method .. " https://127%.0%.0%.1:%d+/subscriptions/[^\n]*)") do
        if m:find(url_tail, 1, true) and m:find("api-version=", 1, true) then found = m end
      end
      assert.is_truthy(found, r.out)
      assert.matches(says, r.out)
      assert.matches("dry run: nothing was changed\n$", r.out)
      return r
    end

    it("prints the request and the change, and sends nothing but GETs", function()
      make_map("map-dry", "content/read", "--description", "old words")
      ok { "token", "create", "-n", "tok-dry", "--scope-map", "map-dry", "-o", "none" }
      local before = passwords("tok-dry")

      dry({ "scope-map", "create", "-n", "map-new", "--repository", "lib", "content/read", "--dry-run" },
        "PUT", "/scopeMaps/map-new?", "would create scope map 'map%-new'\n  actions: repositories/lib/content/read")
      assert.are.equal(404, (em:arm("GET", path("scopeMaps", "map-new"))))
      local r = dry({ "scope-map", "update", "-n", "map-dry", "--add-repository", "lib", "content/write",
                      "--description", "new words", "--dry-run" }, "PATCH", "/scopeMaps/map-dry?",
        "would change scope map 'map%-dry'")
      assert.matches("description: old words %-> new words", r.out)
      assert.matches("actions: %+ repositories/lib/content/write", r.out)
      assert.matches('"description":"new words"', r.out)
      dry({ "scope-map", "delete", "-n", "map-dry", "--dry-run" }, "DELETE", "/scopeMaps/map-dry?",
        "would delete scope map 'map%-dry'")
      dry({ "token", "create", "-n", "tok-new", "--repository", "lib", "content/read", "--dry-run" },
        "PUT", "/tokens/tok-new?", "would create token 'tok%-new'")
      r = dry({ "token", "create", "-n", "tok-new", "--repository", "lib", "content/read", "--dry-run" },
        "PUT", "/scopeMaps/tok-new-scope-map?", "would generate password1 and password2")
      assert.matches("POST [^\n]*/generateCredentials%?", r.out)
      r = dry({ "token", "create", "-n", "tok-dry", "--scope-map", "map-dry", "--overwrite", "--dry-run" },
        "PUT", "/tokens/tok-dry?", "would replace token 'tok%-dry'")
      r = dry({ "token", "update", "-n", "tok-dry", "--status", "disabled", "--dry-run" },
        "PATCH", "/tokens/tok-dry?", "would change token 'tok%-dry'\n  status: enabled %-> disabled")
      dry({ "token", "delete", "-n", "tok-dry", "--dry-run" }, "DELETE", "/tokens/tok-dry?",
        "would delete token 'tok%-dry'")
      r = dry({ "token", "credential", "generate", "-n", "tok-dry", "--password2", "--dry-run" },
        "POST", "/generateCredentials?", "would replace password2 of token 'tok%-dry' %(created ")
      assert.matches('"name":"password2"', r.out)
      dry({ "token", "credential", "delete", "-n", "tok-dry", "--password1", "--dry-run" },
        "PATCH", "/tokens/tok-dry?", "would delete password1 of token 'tok%-dry'")

      -- nothing changed, and no secret was printed
      assert.are.equal(200, (em:arm("GET", path("scopeMaps", "map-dry"))))
      local _, _, _, tok = em:arm("GET", path("tokens", "tok-dry"))
      assert.are.equal("enabled", tok.properties.status)
      local now = passwords("tok-dry")
      assert.are.equal(before.password1.creationTime, now.password1.creationTime)
      assert.are.equal(before.password2.creationTime, now.password2.creationTime)
      assert.are.equal(1, requests("POST generateCredentials"))
    end)

    it("a dry run of what would fail fails the same way", function()
      local r = acr { "token", "update", "-n", "tok-gone", "--status", "disabled", "--dry-run" }
      assert.are.equal(3, r.code, r.err)
      make_map("map-dup", "content/read")
      ok { "token", "create", "-n", "tok-dup", "--scope-map", "map-dup", "--no-passwords" }
      r = acr { "token", "create", "-n", "tok-dup", "--scope-map", "map-dup", "--dry-run" }
      assert.are.equal(1, r.code, r.err)
      assert.matches("already exists", r.err)
      r = ok { "scope-map", "delete", "-n", "map-gone", "--dry-run" }
      assert.matches("scope map 'map%-gone' does not exist: deleting it changes nothing", r.out)
    end)
  end)

  it("token create says how to log in, on stderr, without the password", function()
    make_map("map-hint", "content/read")
    local r = ok { "token", "create", "-n", "tok-hint", "--scope-map", "map-hint" }
    assert.matches("docker login saferegistry%.azurecr%.io %-%-username tok%-hint %-%-password%-stdin", r.err)
    for _, p in ipairs(r.json.properties.credentials.passwords) do
      assert.is_nil(r.err:find(p.value, 1, true))
    end
    -- stdout is still the token's document alone
    assert.are.equal("tok-hint", r.json.name)
    r = ok { "token", "create", "-n", "tok-hint2", "--scope-map", "map-hint", "--no-passwords" }
    assert.is_nil(r.err:find("docker login", 1, true))
    r = ok { "token", "create", "-n", "tok-hint3", "--scope-map", "map-hint", "-o", "tsv" }
    assert.matches("docker login saferegistry%.azurecr%.io ", r.err)
  end)
end)
