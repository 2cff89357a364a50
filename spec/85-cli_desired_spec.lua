-- `acr plan` and `acr apply` as a subprocess against the emulator, with two registries
-- in two subscriptions: the diff, -o json and --query, exit statuses (0 done, 1 some
-- changes failed, 2 an invalid file), --dry-run, the secrets directory, a sink program
-- that fails or kills acr between generate and deliver, a 200-token apply under
-- throttling, and no password in any output. Hermetic: HOME, XDG_STATE_HOME and PATH
-- are the spec's own temp dirs; the emulator is the only server.
local ch = require "client_helpers"
local cli = require "cli_helpers"
local helpers = ch.helpers
local cjson = require "cjson.safe"
local ledger = require "acr.desired.ledger"

local q = helpers.quote
local SUB_A, SUB_B = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
local DAY = 86400

local FILE = [[
registries:
  - subscription: 00000000-0000-0000-0000-00000000000a
    resource_group: rgA
    name: planreg1
    prune: true
    scope_maps:
      app-pull:
        actions: [repositories/app/content/read, repositories/app/metadata/read]
        description: pull the app
    tokens:
      app-ci:
        scope_map: app-pull
        status: enabled
        passwords: { lifetime: 90d, rotate_before: 30d, retire_after: 0 }
  - subscription: 00000000-0000-0000-0000-00000000000b
    resource_group: rgB
    name: planreg2
    scope_maps:
      dev-pull:
        actions: [repositories/dev/content/read]
    tokens:
      dev-ci:
        scope_map: dev-pull
        passwords: { lifetime: 30d }
]]

describe("acr plan / apply #emulator #cli", function()
  local em, tmp, bin, outputs = nil, nil, nil, {}

  setup(function()
    em = helpers.start_emulator{ tls = true, polls = 0, retry_after = 0 }
    tmp = helpers.tmpdir("acr-desired")
    bin = tmp .. "/bin"
    helpers.sh("mkdir -p " .. q(bin))
  end)
  teardown(function()
    if em then em:stop() end
    helpers.rmdir(tmp)
  end)

  local n = 0
  local dir
  before_each(function()
    em:reset()
    em:admin("POST", "clock", { advance = 0 })
    em:add_registry(SUB_A, "rgA", "planreg1")
    em:add_registry(SUB_B, "rgB", "planreg2")
    n = n + 1
    dir = tmp .. "/run" .. n
    helpers.sh("mkdir -p " .. q(dir .. "/home"))
    helpers.write_file(dir .. "/desired.yaml", FILE)
  end)

  -- syntax: r = acr(args, env?)  -- r.code, r.out, r.err, r.json; every output is kept
  -- for the check that no password is in any of them
  local function acr(args, opts)
    opts = opts or {}
    local vars = { HOME = dir .. "/home", XDG_STATE_HOME = dir .. "/state", PATH = bin .. ":/usr/bin:/bin" }
    if opts.tty then
      local r = cli.run_tty(em, args, { vars = vars })
      outputs[#outputs + 1] = r.out
      return r
    end
    local r = cli.run(em, args, { vars = vars, errfile = dir .. "/stderr" })
    if not opts.shown then   -- --show-secrets prints them: not checked
      outputs[#outputs + 1] = r.out
      outputs[#outputs + 1] = r.err
    end
    return r
  end

  local function secret_file(reg, token, slot)
    local text = helpers.read_file(("%s/secrets/%s/%s.%s.json"):format(dir, reg, token, slot))
    return text and cjson.decode(text)
  end

  local function works(sub, reg, user, password) return ch.login_works(em, sub, reg, user, password) end

  -- Time passes by s seconds, for the emulator and for the ledger of the run's secrets dir
  -- (closed again: the next acr run takes its lock).
  local function advance(s)
    em:admin("POST", "clock", { advance = s })
    local l = assert(ledger.open(dir .. "/secrets/.acr-ledger.json"))
    ch.age_ledger(l, s)
    l:close()
  end

  local function remember(s) return s end

  -- After each test: no password of the run's secrets directory (every one delivered
  -- during it) is in anything it printed, nor in the ledger.
  after_each(function()
    local _, list = helpers.sh("find " .. q(dir .. "/secrets") .. " -name '*.password*.json' 2>/dev/null")
    for path in list:gmatch("[^\n]+") do
      local pw = (cjson.decode(helpers.read_file(path) or "") or {}).password
      if pw then
        for i, text in ipairs(outputs) do
          assert.is_nil(text:find(pw, 1, true), "output " .. i .. " holds a password")
        end
      end
    end
    outputs = {}
  end)

  it("an invalid file is exit 2, naming the file, the line and the field", function()
    helpers.write_file(dir .. "/bad.yaml", FILE:gsub("lifetime: 30d", "lifetime: 30x"))
    local r = acr { "plan", "-f", dir .. "/bad.yaml" }
    assert.are.equal(2, r.code, r.err)
    assert.matches("bad%.yaml:24: registries%[2%]%.tokens%.dev%-ci%.passwords%.lifetime: '30x'", r.err)
    r = acr { "apply", "-f", dir .. "/nowhere.yaml" }
    assert.are.equal(2, r.code)
    assert.matches("nowhere%.yaml", r.err)
  end)

  it("plans creates as a diff and as data, and --dry-run changes nothing", function()
    local r = acr { "plan", "-f", dir .. "/desired.yaml" }
    assert.are.equal(0, r.code, r.err)
    assert.matches("registry planreg1 %(resource group rgA, subscription " .. SUB_A:gsub("%-", "%%-") .. "%)", r.out)
    assert.matches("\n  %+ scope map app%-pull: not in the registry\n", r.out)
    assert.matches("\n  ↻ token app%-ci password1: it is empty\n", r.out)
    assert.matches("\nPlan: 4 to create, 2 to rotate%.\n$", r.out)
    assert.matches("WARNING: no %-%-secrets%-dir or %-%-secrets%-exec: the deliveries recorded in .*/state/acr/ledger%.json", r.err)
    assert.are.equal(2, acr({ "plan", "-f", dir .. "/desired.yaml", "--secrets-timeout", "5" }).code)
    r = acr { "plan", "-f", dir .. "/desired.yaml", "-o", "json" }
    assert.are.equal(0, r.code, r.err)
    assert.are.equal(4, r.json.summary.create)
    assert.are.equal("planreg2", r.json.changes[#r.json.changes].registry)
    r = acr { "plan", "-f", dir .. "/desired.yaml", "-o", "tsv" }
    assert.are.equal(0, r.code, r.err)
    assert.matches("^create\tscope_map\tplanreg1\tapp%-pull\t\tnot in the registry\n", r.out)
    assert.matches("\nrotate\ttoken\tplanreg2\tdev%-ci\tpassword1\tit is empty\n", r.out)
    r = acr { "plan", "-f", dir .. "/desired.yaml", "-o", "table" }
    assert.matches("^ACTION +KIND +REGISTRY +NAME +SLOT +REASON\n", r.out)
    r = acr { "plan", "-f", dir .. "/desired.yaml", "--query", "changes[?action=='rotate'].name", "-o", "tsv" }
    assert.are.equal("app-ci\ndev-ci\n", r.out)
    local before = em:stats().requests
    r = acr { "apply", "-f", dir .. "/desired.yaml", "--dry-run" }
    assert.are.equal(0, r.code, r.err)
    assert.matches("Plan: 4 to create", r.out)
    local after = em:stats().requests
    for kind, count in pairs(after) do
      if not kind:match("^GET") and not kind:match("oauth2") then
        assert.are.equal(before[kind] or 0, count, kind)
      end
    end
  end)

  it("applies into a secrets directory, then plans nothing; rotates and retires with the clock", function()
    local r = acr { "apply", "-f", dir .. "/desired.yaml", "--secrets-dir", dir .. "/secrets" }
    assert.are.equal(0, r.code, r.err)
    assert.matches("Apply: 6 succeeded, 0 failed, 0 skipped%.", r.out)
    local s1 = remember(secret_file("planreg1", "app-ci", "password1"))
    local s2 = remember(secret_file("planreg2", "dev-ci", "password1"))
    assert.are.equal("planreg1.azurecr.io", s1.login_server)
    assert.is_true(works(SUB_A, "planreg1", "app-ci", s1.password))
    assert.is_true(works(SUB_B, "planreg2", "dev-ci", s2.password))
    local _, mode = helpers.sh("stat -c %a " .. q(dir .. "/secrets/planreg1/app-ci.password1.json"))
    assert.are.equal("600", mode:match("%d+"))
    -- the ledger says what was delivered, never what
    outputs[#outputs + 1] = assert(helpers.read_file(dir .. "/secrets/.acr-ledger.json.journal"))
    r = acr { "plan", "-f", dir .. "/desired.yaml", "--secrets-dir", dir .. "/secrets" }
    assert.are.equal(0, r.code, r.err)
    assert.matches("^No changes%.\n$", r.out)
    -- 61 days on: app-ci is within rotate_before (retire_after 0: retired in the same run);
    -- dev-ci (30 days) has expired
    advance(61 * DAY)
    r = acr { "apply", "-f", dir .. "/desired.yaml", "--secrets-dir", dir .. "/secrets" }
    assert.are.equal(0, r.code, r.err)
    assert.matches("↻ token app%-ci password2", r.out)
    assert.matches("✕ token app%-ci password1", r.out)
    local n1 = remember(secret_file("planreg1", "app-ci", "password2"))
    assert.is_nil(secret_file("planreg1", "app-ci", "password1"))
    assert.is_true(works(SUB_A, "planreg1", "app-ci", n1.password))
    assert.is_false(works(SUB_A, "planreg1", "app-ci", s1.password))
    assert.is_true(works(SUB_B, "planreg2", "dev-ci", remember(secret_file("planreg2", "dev-ci", "password2")).password))
    r = acr { "plan", "-f", dir .. "/desired.yaml", "--secrets-dir", dir .. "/secrets" }
    assert.matches("^No changes%.\n$", r.out)
  end)

  it("a sink that fails keeps the old password, exit 1; killed between generate and deliver, the next run repairs that slot", function()
    local r = acr { "apply", "-f", dir .. "/desired.yaml", "--secrets-dir", dir .. "/secrets" }
    assert.are.equal(0, r.code, r.err)
    local old = remember(secret_file("planreg1", "app-ci", "password1"))
    advance(61 * DAY)
    helpers.write_file(bin .. "/refuse", "#!/bin/sh\ncat >/dev/null\necho 'vault sealed' >&2\nexit 3\n")
    helpers.write_file(bin .. "/killer", "#!/bin/sh\ncat >/dev/null\nkill -9 $PPID\nsleep 2\n")
    helpers.sh("chmod +x " .. q(bin .. "/refuse") .. " " .. q(bin .. "/killer"))
    local ledger = dir .. "/secrets/.acr-ledger.json"
    r = acr { "apply", "-f", dir .. "/desired.yaml", "--secrets-exec", "refuse", "--ledger", ledger }
    assert.are.equal(1, r.code, r.err)
    assert.matches("failed: ↻ token app%-ci password2: .*vault sealed", r.err)
    assert.is_true(works(SUB_A, "planreg1", "app-ci", old.password))
    r = acr { "apply", "-f", dir .. "/desired.yaml", "--secrets-exec", "killer", "--ledger", ledger }
    assert.are_not.equal(0, r.code)
    assert.is_true(works(SUB_A, "planreg1", "app-ci", old.password))
    r = acr { "plan", "-f", dir .. "/desired.yaml", "--secrets-dir", dir .. "/secrets" }
    assert.matches("↻ token app%-ci password2: its password was generated by an earlier run and no sink confirmed it", r.out)
    r = acr { "apply", "-f", dir .. "/desired.yaml", "--secrets-dir", dir .. "/secrets" }
    assert.are.equal(0, r.code, r.err)
    local new = remember(secret_file("planreg1", "app-ci", "password2"))
    assert.is_true(works(SUB_A, "planreg1", "app-ci", new.password))
  end)

  it("refuses to run beside another run that holds the ledger, exit 1", function()
    helpers.sh("mkdir -p " .. q(dir .. "/secrets"))
    local held = assert(ledger.open(dir .. "/secrets/.acr-ledger.json"))
    local r = acr { "apply", "-f", dir .. "/desired.yaml", "--secrets-dir", dir .. "/secrets" }
    held:close()
    assert.are.equal(1, r.code, r.err)
    assert.matches("^ERROR: secrets%-dir .*: ledger .* is in use by another run", r.err)
    assert.are.equal(0, acr({ "apply", "-f", dir .. "/desired.yaml", "--secrets-dir", dir .. "/secrets" }).code)
  end)

  it("applies 200 tokens under the emulator's throttling with default settings", function()
    local lines = { "registries:", "  - subscription: " .. SUB_A, "    resource_group: rgA", "    name: planreg1",
      "    scope_maps:", "      bulk-pull:", "        actions: [repositories/bulk/content/read]", "    tokens:" }
    for i = 1, 200 do
      lines[#lines + 1] = ("      bulk-%03d: { scope_map: bulk-pull, passwords: { lifetime: 30d } }"):format(i)
    end
    helpers.write_file(dir .. "/bulk.yaml", table.concat(lines, "\n") .. "\n")
    em:settings{ throttle = { reads = { 50, 100 }, writes = { 40, 60 }, deletes = { 40, 60 } } }
    local r = acr { "apply", "-f", dir .. "/bulk.yaml", "--secrets-dir", dir .. "/secrets", "-o", "json" }
    em:settings{ throttle = false }
    assert.are.equal(0, r.code, r.err)
    assert.are.same({ succeeded = 401, failed = 0, skipped = 0 }, r.json.result)
    remember(secret_file("planreg1", "bulk-200", "password1"))
  end)

  it("prints the new passwords with --show-secrets only", function()
    local r = acr({ "apply", "-f", dir .. "/desired.yaml", "--secrets-dir", dir .. "/secrets", "-o", "json",
                    "--show-secrets" }, { shown = true })
    assert.are.equal(0, r.code, r.err)
    local shown = {}
    for _, c in ipairs(r.json.changes) do
      if c.action == "rotate" then shown[c.registry .. "/" .. c.name] = c.secret.password end
    end
    assert.are.equal(secret_file("planreg1", "app-ci", "password1").password, shown["planreg1/app-ci"])
    assert.are.equal(secret_file("planreg2", "dev-ci", "password1").password, shown["planreg2/dev-ci"])
  end)

  it("shows a progress line on a terminal, and clears it", function()
    if not helpers.sh("command -v script") then return pending("no script(1)") end
    local r = acr({ "apply", "-f", dir .. "/desired.yaml", "--secrets-dir", dir .. "/secrets" }, { tty = true })
    assert.are.equal(0, r.code, r.out)
    assert.matches("\rapplying: 1/6 done, 0 failed ", r.out, 1, true)
    assert.matches("\rapplying: 6/6 done, 0 failed \r\27[K", r.out, 1, true)
    assert.matches("Apply: 6 succeeded", r.out, 1, true)
  end)

end)
