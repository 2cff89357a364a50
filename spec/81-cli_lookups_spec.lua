-- bin/acr's defaults and lookups, as az's: --subscription by id or by name (ARM's
-- subscription list), the default subscription of az's profile (azureProfile.json, with
-- its BOM), the registry's resource group found in the subscription's registry list,
-- AZURE_DEFAULTS_GROUP/ACR, AZURE_CORE_OUTPUT and az's config file, and their precedence.
-- Hermetic: HOME, AZURE_CONFIG_DIR and PATH are the spec's own temp dirs; the emulator
-- is the only server (127.0.0.1).
local helpers = require "helpers"
local cli = require "cli_helpers"
local cjson = require "cjson.safe"
local fail = require "acr.cli.fail"

local q = helpers.quote
local TENANT = cli.TENANT
local SUB_A, SUB_B, SUB_C = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b",
  "00000000-0000-0000-0000-00000000000c"
local BOM = "\239\187\191"
-- the not-found status, once fail.lua has one; until then a failure's
local EXIT_NOT_FOUND = fail.EXIT_NOT_FOUND or fail.EXIT_SERVICE


describe("acr defaults and lookups #emulator #cli", function()
  local em, tmp, home, bin
  setup(function()
    em = helpers.start_emulator{ tls = true, polls = 0, retry_after = 0,
      registries = { SUB_A .. "/rgA/lookreg1", SUB_A .. "/rgB/dupreg1", SUB_A .. "/rgC/DupReg1",
                     SUB_B .. "/rgdev/devreg1" },
      subscription_names = { [SUB_A] = "Prod Sub", [SUB_B] = "Dev", [SUB_C] = "DEV" } }
    tmp = helpers.tmpdir("acr-lookups")
    bin = tmp .. "/bin"   -- PATH: an empty folder (no az, nothing else)
    helpers.sh("mkdir -p " .. q(bin))
  end)
  teardown(function()
    if em then em:stop() end
    helpers.rmdir(tmp)
  end)

  local n_home = 0
  before_each(function()
    em:reset()
    em:settings{ page_size = 100 }
    n_home = n_home + 1
    home = tmp .. "/home" .. n_home   -- a fresh HOME, without ~/.azure unless a test writes one
    helpers.sh("mkdir -p " .. q(home))
  end)

  local function write(rel, text)
    local path = home .. "/" .. rel
    helpers.sh("mkdir -p " .. q(path:match("^(.*)/[^/]*$")))
    helpers.write_file(path, text)
  end

  local function profile(default_sub, bom)
    local subs = {}
    for _, s in ipairs { SUB_A, SUB_B } do
      subs[#subs + 1] = { id = s, name = s == SUB_A and "Prod Sub" or "Dev", state = "Enabled",
        isDefault = s == default_sub, tenantId = TENANT, environmentName = "AzureCloud",
        user = { name = "someone@example.com", type = "user" } }
    end
    return (bom and BOM or "") .. cjson.encode({ installationId = "x", subscriptions = subs })
  end

  -- syntax: r = acr(args, env?)  -- r.code, r.out, r.err, r.json, r.used (registry path of
  -- the command's requests, from --verbose). Only --endpoint and --ca-file are added.
  local function acr(args, env)
    local vars = { HOME = home, PATH = bin }
    for k, v in pairs(env or {}) do vars[k] = v end
    local r = cli.run(em, args, { vars = vars, errfile = tmp .. "/stderr",
      extra = { "--endpoint", em.url, "--ca-file", em.ca_file, "--verbose" } })
    r.used = r.err:match("/subscriptions/([^?%s]-)/scope[Mm]aps") or r.err:match("/subscriptions/([^?%s]-)/tokens")
    return r
  end

  local function requests(kind)
    return ((em:stats() or {}).requests or {})[kind] or 0
  end

  local function reg(sub, rg, name)
    return sub .. "/resourceGroups/" .. rg .. "/providers/Microsoft.ContainerRegistry/registries/" .. name
  end

  describe("--subscription", function()
    it("an id is used as it is: no lookup", function()
      local r = acr { "scope-map", "list", "-r", "lookreg1", "-g", "rgA", "--subscription", SUB_A }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_A, "rgA", "lookreg1"), r.used)
      assert.are.equal(0, requests("GET subscriptions"))
    end)

    it("a name is looked up in ARM's subscription list, case-insensitively, every page", function()
      em:settings{ page_size = 1 }
      local r = acr { "scope-map", "create", "-n", "by-name", "--repository", "app", "content/read",
                      "-r", "lookreg1", "-g", "rgA", "--subscription", "prod SUB" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(200, (em:arm("GET", em:registry_path(SUB_A, "rgA", "lookreg1") .. "/scopeMaps/by-name")))
      assert.is_true(requests("GET subscriptions") >= 2)   -- pages of one
      -- AZURE_SUBSCRIPTION_ID may hold a name too
      r = acr({ "scope-map", "list", "-r", "devreg1", "-g", "rgdev" }, { AZURE_SUBSCRIPTION_ID = "Dev" })
      assert.is_not.equal(0, r.code)   -- "Dev" and "DEV": ambiguous
      r = acr({ "scope-map", "list", "-r", "lookreg1", "-g", "rgA" }, { AZURE_SUBSCRIPTION_ID = "Prod Sub" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_A, "rgA", "lookreg1"), r.used)
    end)

    it("an unknown name fails (exit 1) without repeating it, and sends nothing else", function()
      local r = acr { "scope-map", "list", "-r", "lookreg1", "-g", "rgA", "--subscription", "hunter2 sub" }
      assert.are.equal(1, r.code, r.err)
      assert.matches("Subscription not found: no subscription's id or name is what %-%-subscription gives", r.err)
      assert.is_nil(r.err:find("hunter2", 1, true))
      assert.are.equal("", r.out)
      assert.is_nil(r.used)
      r = acr({ "scope-map", "list", "-r", "lookreg1", "-g", "rgA" }, { AZURE_SUBSCRIPTION_ID = "hunter2 sub" })
      assert.are.equal(1, r.code, r.err)
      assert.matches("what AZURE_SUBSCRIPTION_ID gives", r.err)
      assert.is_nil(r.err:find("hunter2", 1, true))
    end)

    it("a name several subscriptions have fails (exit 1), listing their ids", function()
      local r = acr { "scope-map", "list", "-r", "devreg1", "-g", "rgdev", "--subscription", "dev" }
      assert.are.equal(1, r.code, r.err)
      assert.matches("Multiple subscriptions have the name %-%-subscription gives", r.err)
      assert.is_truthy(r.err:find(SUB_B, 1, true))
      assert.is_truthy(r.err:find(SUB_C, 1, true))
      assert.matches("Specify the subscription ID", r.err)
      assert.is_nil(r.used)
      -- an id is never ambiguous
      r = acr { "scope-map", "list", "-r", "devreg1", "-g", "rgdev", "--subscription", SUB_B }
      assert.are.equal(0, r.code, r.err)
    end)
  end)

  describe("az's default subscription", function()
    it("is the profile's isDefault one, read past the UTF-8 BOM", function()
      write(".azure/azureProfile.json", profile(SUB_B, true))
      local r = acr { "scope-map", "list", "-r", "devreg1", "-g", "rgdev" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_B, "rgdev", "devreg1"), r.used)
      write(".azure/azureProfile.json", profile(SUB_A, false))   -- and without one
      r = acr { "scope-map", "list", "-r", "lookreg1", "-g", "rgA" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_A, "rgA", "lookreg1"), r.used)
    end)

    it("AZURE_CONFIG_DIR replaces ~/.azure; the option and AZURE_SUBSCRIPTION_ID win over it", function()
      write(".azure/azureProfile.json", profile(SUB_A, true))
      write("elsewhere/azureProfile.json", profile(SUB_B, true))
      local r = acr({ "scope-map", "list", "-r", "devreg1", "-g", "rgdev" },
        { AZURE_CONFIG_DIR = home .. "/elsewhere" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_B, "rgdev", "devreg1"), r.used)
      r = acr({ "scope-map", "list", "-r", "devreg1", "-g", "rgdev" }, { AZURE_SUBSCRIPTION_ID = SUB_B })
      assert.are.equal(reg(SUB_B, "rgdev", "devreg1"), r.used)
      r = acr({ "scope-map", "list", "-r", "devreg1", "-g", "rgdev", "--subscription", SUB_B },
        { AZURE_SUBSCRIPTION_ID = SUB_A })
      assert.are.equal(reg(SUB_B, "rgdev", "devreg1"), r.used)
    end)

    it("without a profile, or without a default in it, --subscription is required (exit 2)", function()
      local r = acr { "scope-map", "list", "-r", "lookreg1", "-g", "rgA" }
      assert.are.equal(2, r.code, r.err)
      assert.matches("%-%-subscription is required %(or set AZURE_SUBSCRIPTION_ID, or a default subscription", r.err)
      write(".azure/azureProfile.json", profile(nil, true))
      r = acr { "scope-map", "list", "-r", "lookreg1", "-g", "rgA" }
      assert.are.equal(2, r.code, r.err)
      assert.are.equal(0, (em:stats() or {}).total or 0)
    end)

    it("a profile that is not JSON, or has several defaults, fails (exit 1) naming the file", function()
      write(".azure/azureProfile.json", BOM .. "{not json")
      local r = acr { "scope-map", "list", "-r", "lookreg1", "-g", "rgA" }
      assert.are.equal(1, r.code, r.err)
      assert.is_truthy(r.err:find(home .. "/.azure/azureProfile.json: it is not JSON", 1, true)
        or r.err:find("cannot read " .. home .. "/.azure/azureProfile.json", 1, true))
      write(".azure/azureProfile.json", BOM .. cjson.encode { subscriptions = {
        { id = SUB_A, isDefault = true }, { id = SUB_B, isDefault = true } } })
      r = acr { "scope-map", "list", "-r", "lookreg1", "-g", "rgA" }
      assert.are.equal(1, r.code, r.err)
      assert.matches("several subscriptions as the default", r.err)
      assert.are.equal(0, (em:stats() or {}).total or 0)
    end)
  end)

  describe("a registry without -g", function()
    it("is found in the subscription's registry list (every page, any case); its id gives the group", function()
      em:settings{ page_size = 1 }
      local r = acr { "scope-map", "create", "-n", "found-map", "--repository", "app", "content/read",
                      "-r", "LOOKREG1", "--subscription", SUB_A }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(200, (em:arm("GET", em:registry_path(SUB_A, "rgA", "lookreg1") .. "/scopeMaps/found-map")))
      assert.is_true(requests("GET registries") >= 2)
      -- with the subscription by name too
      r = acr { "scope-map", "list", "-r", "devreg1", "--subscription", "DEV", "-g", "rgdev" }
      assert.are.equal(1, r.code)   -- ambiguous name, as above
      r = acr { "token", "list", "-r", "lookreg1", "--subscription", "Prod Sub" }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_A, "rgA", "LOOKREG1"):lower(), r.used:lower())
    end)

    it("not found: az's message, the not-found status, nothing else sent", function()
      local r = acr { "scope-map", "list", "-r", "nosuchreg1", "--subscription", "Prod Sub" }
      assert.are.equal(EXIT_NOT_FOUND, r.code, r.err)
      assert.is_truthy(r.err:find("The resource with name 'nosuchreg1' and type "
        .. "'Microsoft.ContainerRegistry/registries' could not be found in subscription 'Prod Sub ("
        .. SUB_A .. ")'.", 1, true), r.err)
      assert.is_nil(r.used)
      r = acr { "scope-map", "list", "-r", "devreg1", "--subscription", SUB_A }   -- another subscription's
      assert.are.equal(EXIT_NOT_FOUND, r.code, r.err)
      assert.is_truthy(r.err:find("could not be found in subscription '" .. SUB_A .. "'.", 1, true), r.err)
    end)

    it("in two resource groups: fails (exit 1) naming them", function()
      local r = acr { "scope-map", "list", "-r", "dupreg1", "--subscription", SUB_A }
      assert.are.equal(1, r.code, r.err)
      assert.matches("More than one resources with type 'Microsoft.ContainerRegistry/registries' are found "
        .. "with name 'dupreg1' %(resource groups rgB, rgC%)", r.err)
      assert.is_nil(r.used)
      local before = requests("GET registries")
      r = acr { "scope-map", "list", "-r", "dupreg1", "-g", "rgC", "--subscription", SUB_A }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(before, requests("GET registries"))
    end)

    it("an id in the list that is not exactly that registry's is refused, nothing built from it", function()
      for _, id in ipairs {
        "/subscriptions/" .. SUB_A .. "/resourceGroups/../providers/Microsoft.ContainerRegistry/registries/lookreg1",
        "/subscriptions/" .. SUB_B .. "/resourceGroups/rgA/providers/Microsoft.ContainerRegistry/registries/lookreg1",
        "/subscriptions/" .. SUB_A .. "/resourceGroups/rg%2Fx/providers/Microsoft.ContainerRegistry/registries/lookreg1",
        "/subscriptions/" .. SUB_A .. "/resourceGroups/rgA/providers/Microsoft.ContainerRegistry/registries/other1",
        "/subscriptions/" .. SUB_A .. "/resourceGroups/rgA/providers/Microsoft.Evil/registries/lookreg1",
        "/subscriptions/" .. SUB_A .. "/resourceGroups/rgA/providers/Microsoft.ContainerRegistry/registries/lookreg1/x",
        "https://evil.example/subscriptions/" .. SUB_A .. "/resourceGroups/rgA/providers/Microsoft.ContainerRegistry/registries/lookreg1",
        "/subscriptions/" .. SUB_A .. "/resourceGroups/rg./providers/Microsoft.ContainerRegistry/registries/lookreg1",
      } do
        em:reset()
        em:admin("POST", "inject", { path = "/subscriptions/" .. SUB_A .. "/providers/Microsoft.ContainerRegistry/registries",
          status = 200, headers = { ["Content-Type"] = "application/json" },
          body = cjson.encode { value = { { name = "lookreg1", id = id, type = "Microsoft.ContainerRegistry/registries" } } } })
        local r = acr { "scope-map", "list", "-r", "lookreg1", "--subscription", SUB_A }
        assert.are.equal(1, r.code, id .. ": " .. r.err)
        assert.matches("ARM's registry list is malformed %(the id of item 1 is not the id of registry 'lookreg1'", r.err)
        assert.is_nil(r.used)
        assert.are.equal(0, requests("GET scopeMaps"))
      end
      em:admin("POST", "inject", { path = "/subscriptions/" .. SUB_A .. "/providers/Microsoft.ContainerRegistry/registries",
        status = 200, body = '{"value":["lookreg1"]}' })
      local r = acr { "scope-map", "list", "-r", "lookreg1", "--subscription", SUB_A }
      assert.are.equal(1, r.code, r.err)
      assert.matches("item 1 is not a registry", r.err)
    end)
  end)

  describe("az's defaults", function()
    it("AZURE_DEFAULTS_ACR and AZURE_DEFAULTS_GROUP stand for -r and -g", function()
      local r = acr({ "scope-map", "list", "--subscription", SUB_A },
        { AZURE_DEFAULTS_ACR = "lookreg1", AZURE_DEFAULTS_GROUP = "rgA" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_A, "rgA", "lookreg1"), r.used)
      assert.are.equal(0, requests("GET registries"))
      -- the registry alone: the group is looked up
      r = acr({ "scope-map", "list", "--subscription", SUB_A }, { AZURE_DEFAULTS_ACR = "lookreg1" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_A, "rgA", "lookreg1"), r.used)
      -- no registry anywhere: usage
      r = acr({ "scope-map", "list", "--subscription", SUB_A }, { AZURE_DEFAULTS_GROUP = "rgA" })
      assert.are.equal(2, r.code, r.err)
      assert.matches("%-%-registry is required %(or set ACR_REGISTRY, or az's default: AZURE_DEFAULTS_ACR", r.err)
    end)

    it("az's config file: [defaults] group and acr, [core] output (keys in any case, comments)", function()
      write(".azure/config", "# az configure\n[core]\nOutput = tsv\ncollect_telemetry = no\n\n"
        .. "[defaults]\n; the team's registry\nacr: lookreg1\ngroup = rgA\n")
      local r = acr { "scope-map", "list", "--subscription", SUB_A }
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_A, "rgA", "lookreg1"), r.used)
      assert.matches("^_repositories_admin\tSystemDefined\t", r.out)
      -- in AZURE_CONFIG_DIR instead
      write("cfg/config", "[defaults]\nacr = devreg1\n")
      r = acr({ "scope-map", "list", "--subscription", SUB_B }, { AZURE_CONFIG_DIR = home .. "/cfg" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_B, "rgdev", "devreg1"), r.used)
      assert.are.equal("table", type(r.json))
    end)

    it("precedence: the command line, then the environment, then the config file", function()
      write(".azure/config", "[defaults]\nacr = devreg1\ngroup = rg-wrong\n[core]\noutput = tsv\n")
      write(".azure/azureProfile.json", profile(SUB_B, true))
      -- the file alone
      local r = acr { "scope-map", "list", "-g", "rgdev" }
      assert.are.equal(reg(SUB_B, "rgdev", "devreg1"), r.used)
      assert.matches("^_repositories_admin\t", r.out)
      -- the environment over the file
      r = acr({ "scope-map", "list" }, { AZURE_SUBSCRIPTION_ID = SUB_A, AZURE_DEFAULTS_ACR = "lookreg1",
        AZURE_DEFAULTS_GROUP = "rgA", AZURE_CORE_OUTPUT = "json" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_A, "rgA", "lookreg1"), r.used)
      assert.are.equal("table", type(r.json))
      -- ACR_REGISTRY and ACR_RESOURCE_GROUP over az's variables
      r = acr({ "scope-map", "list" }, { AZURE_SUBSCRIPTION_ID = SUB_A, ACR_REGISTRY = "dupreg1",
        ACR_RESOURCE_GROUP = "rgB", AZURE_DEFAULTS_ACR = "lookreg1", AZURE_DEFAULTS_GROUP = "rgA" })
      assert.are.equal(reg(SUB_A, "rgB", "dupreg1"), r.used)
      -- the command line over both
      r = acr({ "scope-map", "list", "-r", "dupreg1", "-g", "rgC", "-o", "table", "--subscription", SUB_A },
        { AZURE_DEFAULTS_ACR = "lookreg1", AZURE_DEFAULTS_GROUP = "rgA", AZURE_CORE_OUTPUT = "json" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal(reg(SUB_A, "rgC", "dupreg1"), r.used)
      assert.matches("^NAME%s+TYPE", r.out)
      -- a default group applies even when the registry is elsewhere, as in az (-g is not looked up)
      r = acr { "scope-map", "list", "-r", "devreg1" }
      assert.are_not.equal(0, r.code)
      assert.matches("ResourceNotFound", r.err)
      assert.is_truthy(r.err:find("rg-wrong", 1, true))
    end)

    it("a default output acr does not write is a usage error naming where it came from", function()
      local r = acr({ "scope-map", "list", "-r", "lookreg1", "-g", "rgA", "--subscription", SUB_A },
        { AZURE_CORE_OUTPUT = "xml" })
      assert.are.equal(2, r.code, r.err)
      assert.matches("the default output %(AZURE_CORE_OUTPUT%) must be json, jsonc", r.err)
      write(".azure/config", "[core]\noutput = html\n")
      r = acr { "scope-map", "list", "-r", "lookreg1", "-g", "rgA", "--subscription", SUB_A }
      assert.are.equal(2, r.code, r.err)
      assert.matches("the default output %(%[core%] output of az's config%)", r.err)
      assert.are.equal(0, (em:stats() or {}).total or 0)
      -- any format acr writes, in any case, is taken from there
      write(".azure/config", "[core]\noutput = YAML\n")
      r = acr { "scope-map", "list", "-r", "lookreg1", "-g", "rgA", "--subscription", SUB_A }
      assert.are.equal(0, r.code, r.err)
      assert.matches("^%- ", r.out)
    end)
  end)
end)
