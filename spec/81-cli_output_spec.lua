-- bin/acr's output, as az's: --query (JMESPath) on every command that prints, each
-- -o format byte for byte, AZURE_CORE_OUTPUT, and tsv/table of the shapes a query
-- leaves (knack's rules). Hermetic: a fake HOME under a temp dir, the emulator on
-- 127.0.0.1, the environment scrubbed of what would change the CLI.
local helpers = require "helpers"
local cjson = require "cjson.safe"

local q = helpers.quote
local TENANT = "00000000-0000-0000-0000-0000000000e1"
local SUB, RG, REG = "00000000-0000-0000-0000-000000000001", "rg-out", "outregistry"

local SCRUB = { "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST",
  "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE",
  "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "ACR_IMDS_ENDPOINT", "AZURE_SUBSCRIPTION_ID", "ACR_ENDPOINT",
  "ACR_REGISTRY", "ACR_RESOURCE_GROUP", "REQUESTS_CA_BUNDLE", "LUA_CPATH_5_4", "LUA_PATH_5_4",
  "AZURE_CORE_OUTPUT", "AZURE_CONFIG_DIR", "HOME" }

local have_script = helpers.sh("command -v script")

-- syntax: r = cli(em, home, args, opts?)  -- r.code, r.out, r.err, r.json
--   opts.env: extra variables; opts.tty: run on a pseudo-terminal (script(1)), r.out
--   is then the terminal's output
local function cli(em, home, args, opts)
  opts = opts or {}
  local env = {
    HOME = home, AZURE_TENANT_ID = TENANT, AZURE_CLIENT_ID = em.client_id,
    AZURE_CLIENT_SECRET = em.client_secret, AZURE_AUTHORITY_HOST = em.url,
    AZURE_SUBSCRIPTION_ID = SUB, ACR_IMDS_ENDPOINT = "http://127.0.0.1:9",
    LUA_CPATH = (os.getenv("ACR_CPATH") or (helpers.root .. "/build/lua5.4/?.so")) .. ";;",
  }
  for k, v in pairs(opts.env or {}) do env[k] = v end
  local parts = { "env" }
  for _, k in ipairs(SCRUB) do parts[#parts + 1] = "-u " .. k end
  for k, v in pairs(env) do parts[#parts + 1] = q(k .. "=" .. v) end
  parts[#parts + 1] = q(os.getenv("ACR_LUA") or "lua5.4")
  parts[#parts + 1] = q(helpers.root .. "/bin/acr")
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  for _, a in ipairs { "--endpoint", em.url, "--ca-file", em.ca_file, "-g", RG, "-r", REG } do
    parts[#parts + 1] = q(a)
  end
  local cmd = table.concat(parts, " ")
  if opts.tty then
    local _, out, code = helpers.sh("SHELL=/bin/sh script -qfec " .. q(cmd .. " 2>/dev/null")
      .. " /dev/null </dev/null")
    return { code = code, out = out }
  end
  local errfile = home .. "/stderr"
  local _, out, code = helpers.sh(cmd .. " 2>" .. q(errfile) .. " </dev/null")
  local err = helpers.read_file(errfile) or ""
  return { code = code, out = out, err = err, json = cjson.decode(out) }
end

describe("acr output and --query #emulator #cli", function()
  local em, home
  setup(function()
    home = helpers.tmpdir("acr-cli-home")
    assert(os.execute("mkdir -p " .. q(home .. "/.azure")))
    em = helpers.start_emulator{ tls = true, polls = 0, retry_after = 0,
      registries = { SUB .. "/" .. RG .. "/" .. REG } }
  end)
  teardown(function()
    if em then em:stop() end
    if home then helpers.rmdir(home) end
  end)
  before_each(function() em:reset() end)

  local function acr(args, opts) return cli(em, home, args, opts) end
  local function total() return (em:stats() or {}).total or 0 end
  local function ok(args, opts)
    local r = acr(args, opts)
    assert.are.equal(0, r.code, r.err)
    return r
  end

  -- A scope map in a known state; returns its id and creation date, as ARM has them.
  local function fixed_map()
    ok { "scope-map", "create", "-n", "fmt-map", "--repository", "app", "content/read",
         "--description", "d", "-o", "none" }
    local st, _, body = em:arm("GET", em:registry_path(SUB, RG, REG) .. "/scopeMaps/fmt-map")
    assert.are.equal(200, st)
    local doc = cjson.decode(body)
    return doc.id, doc.properties.creationDate
  end

  describe("formats", function()
    it("json, jsonc (no terminal), yaml, yamlc (no terminal), table, tsv, none: exact", function()
      local id, date = fixed_map()
      local json = table.concat({
        "{",
        '  "id": "' .. id .. '",',
        '  "name": "fmt-map",',
        '  "properties": {',
        '    "actions": [',
        '      "repositories/app/content/read"',
        "    ],",
        '    "creationDate": "' .. date .. '",',
        '    "description": "d",',
        '    "provisioningState": "Succeeded",',
        '    "type": "UserDefined"',
        "  },",
        '  "type": "Microsoft.ContainerRegistry/registries/scopeMaps"',
        "}", "" }, "\n")
      local yaml = table.concat({
        "id: " .. id,
        "name: fmt-map",
        "properties:",
        "  actions:",
        "  - repositories/app/content/read",
        "  creationDate: '" .. date .. "'",
        "  description: d",
        "  provisioningState: Succeeded",
        "  type: UserDefined",
        "type: Microsoft.ContainerRegistry/registries/scopeMaps", "" }, "\n")
      local dw = math.max(#date, #"CREATION DATE")
      local tbl = ("%-7s  %-11s  %-" .. dw .. "s  %s\n"):format("NAME", "TYPE", "CREATION DATE",
          "DESCRIPTION")
        .. ("%s  %s  %s  %s\n"):format(("-"):rep(7), ("-"):rep(11), ("-"):rep(dw), ("-"):rep(11))
        .. ("%-7s  %-11s  %-" .. dw .. "s  %s\n"):format("fmt-map", "UserDefined", date, "d")
      local want = {
        json = json, jsonc = json, yaml = yaml, yamlc = yaml, table = tbl,
        tsv = "fmt-map\tUserDefined\t" .. date .. "\td\n", none = "",
      }
      for fmt, expected in pairs(want) do
        local r = ok { "scope-map", "show", "-n", "fmt-map", "-o", fmt }
        assert.are.equal(expected, r.out, fmt)
        r = ok { "scope-map", "show", "-n", "fmt-map", "--output", fmt:upper() }
        assert.are.equal(expected, r.out, fmt)
      end
    end)

    it("AZURE_CORE_OUTPUT is the default format; -o wins over it; a bad one is exit 2", function()
      local _, date = fixed_map()
      local r = ok({ "scope-map", "show", "-n", "fmt-map" }, { env = { AZURE_CORE_OUTPUT = "tsv" } })
      assert.are.equal("fmt-map\tUserDefined\t" .. date .. "\td\n", r.out)
      r = ok({ "scope-map", "show", "-n", "fmt-map", "-o", "json" },
        { env = { AZURE_CORE_OUTPUT = "tsv" } })
      assert.are.equal("fmt-map", r.json.name)
      local before = total()
      r = acr({ "scope-map", "show", "-n", "fmt-map" }, { env = { AZURE_CORE_OUTPUT = "xml" } })
      assert.are.equal(2, r.code)
      assert.matches("json, jsonc, yaml, yamlc, table, tsv or none", r.err, 1, true)
      assert.are.equal(before, total())
    end)

    it("yaml of a list, an empty list, a scalar and strings YAML would misread", function()
      fixed_map()
      local r = ok { "scope-map", "list", "-o", "yaml", "--query", "[?name=='fmt-map'].name" }
      assert.are.equal("- fmt-map\n", r.out)
      r = ok { "scope-map", "list", "-o", "yaml", "--query", "[?name=='nosuch']" }
      assert.are.equal("[]\n", r.out)
      r = ok { "scope-map", "show", "-n", "fmt-map", "-o", "yaml", "--query", "name" }
      assert.are.equal("fmt-map\n...\n", r.out)
      r = ok { "scope-map", "show", "-n", "fmt-map", "-o", "yaml", "--query",
               "{a: 'true', b: '12', c: '', d: 'null', e: `true`, f: `null`, g: `1.5`}" }
      assert.are.equal("a: 'true'\nb: '12'\nc: ''\nd: 'null'\ne: true\nf: null\ng: 1.5\n", r.out)
    end)
  end)

  describe("--query", function()
    it("applies to every command that prints, before -o formats it", function()
      fixed_map()
      ok { "token", "create", "-n", "tok-q", "--scope-map", "fmt-map", "--no-passwords", "-o", "none" }
      local cases = {
        { { "scope-map", "create", "-n", "map-q2", "--repository", "lib", "content/read" },
          "name", "map-q2\n" },
        { { "scope-map", "update", "-n", "map-q2", "--description", "new" },
          "properties.description", "new\n" },
        { { "scope-map", "show", "-n", "map-q2" }, "properties.actions[0]",
          "repositories/lib/content/read\n" },
        { { "scope-map", "list" }, "length([?properties.type=='UserDefined'])", "2\n" },
        { { "token", "create", "-n", "tok-q2", "--scope-map", "map-q2" },
          "[properties.credentials.username, length(properties.credentials.passwords)]",
          "tok-q2\n2\n" },
        { { "token", "update", "-n", "tok-q2", "--status", "disabled" }, "properties.status",
          "disabled\n" },
        { { "token", "show", "-n", "tok-q2" },
          "properties.credentials.passwords[].name | sort(@) | join(',', @)",
          "password1,password2\n" },
        { { "token", "list" }, "sort([].name)", "tok-q\ntok-q2\n" },
        { { "token", "credential", "generate", "-n", "tok-q2", "--password1" },
          "{u: username, n: passwords[0].name}", "tok-q2\tpassword1\n" },
        { { "token", "credential", "delete", "-n", "tok-q2", "--password2", "--yes" },
          "length(properties.credentials.passwords)", "1\n" },
        { { "token", "update", "-n", "tok-q2", "--status", "enabled", "--no-wait" },
          "keys(@) | sort(@)", "request_id\nstatus\n" },
      }
      for _, c in ipairs(cases) do
        local args = { "--query", c[2], "-o", "tsv" }
        for i = #c[1], 1, -1 do table.insert(args, 1, c[1][i]) end
        local r = acr(args)
        assert.are.equal(0, r.code, table.concat(c[1], " ") .. ": " .. r.err)
        assert.are.equal(c[3], r.out, table.concat(c[1], " "))
      end
    end)

    it("a malformed expression is exit 2, before anything is sent, without repeating it", function()
      fixed_map()
      for _, args in ipairs {
        { "scope-map", "show", "-n", "fmt-map", "--query", "[?name=='hunter2'" },
        { "token", "create", "-n", "tok-bad", "--scope-map", "fmt-map", "--query", "hunter2[" },
        { "scope-map", "delete", "-n", "fmt-map", "--yes", "--query", "foo..hunter2" },
      } do
        local before = total()
        local r = acr(args)
        assert.are.equal(2, r.code, r.err)
        assert.matches("--query is not a valid JMESPath expression", r.err, 1, true)
        assert.is_nil(r.err:find("hunter2", 1, true), r.err)
        assert.are.equal("", r.out)
        assert.are.equal(before, total())
      end
      assert.are.equal(200, (em:arm("GET", em:registry_path(SUB, RG, REG) .. "/scopeMaps/fmt-map")))
    end)

    it("a query failing on the data is exit 1, said as az says it", function()
      fixed_map()
      local r = acr { "scope-map", "show", "-n", "fmt-map", "--query", "sort_by(@, &name)" }
      assert.are.equal(1, r.code)
      assert.matches("^ERROR: %-%-query failed on the result: ", r.err)
      assert.matches("sort_by", r.err, 1, true)
      assert.are.equal("", r.out)
    end)

    it("failing on generated passwords, it says they were not delivered, never showing them", function()
      fixed_map()
      ok { "token", "create", "-n", "tok-lost", "--scope-map", "fmt-map", "--no-passwords", "-o", "none" }
      local r = acr { "token", "credential", "generate", "-n", "tok-lost", "--query", "abs(username)" }
      assert.are.equal(1, r.code)
      assert.matches("were generated but not delivered", r.err, 1, true)
      assert.are.equal("", r.out)
      -- the values the emulator made are nowhere in what acr wrote
      local st, _, body = em:arm("GET", em:registry_path(SUB, RG, REG) .. "/tokens/tok-lost")
      assert.are.equal(200, st)
      assert.is_nil(r.err:find('"value"', 1, true))
      assert.is_truthy(body)
    end)

    it("a query that leaves null prints nothing, in every format, exit 0", function()
      fixed_map()
      for _, fmt in ipairs { "json", "jsonc", "yaml", "table", "tsv" } do
        local r = ok { "scope-map", "show", "-n", "fmt-map", "--query", "properties.nosuch", "-o", fmt }
        assert.are.equal("", r.out, fmt)
      end
    end)

    it("json keeps [] for empty lists and writes the query's own objects with sorted keys", function()
      fixed_map()
      local r = ok { "scope-map", "show", "-n", "fmt-map", "--query",
                     "{z: name, a: properties.actions[?@=='none'], m: `{}`}" }
      assert.are.equal('{\n  "a": [],\n  "m": {},\n  "z": "fmt-map"\n}\n', r.out)
    end)
  end)

  describe("tsv and table of what --query leaves", function()
    local date
    before_each(function() _, date = fixed_map() end)
    local function out(args) return ok(args).out end
    local SHOW = { "scope-map", "show", "-n", "fmt-map" }
    local function show(query, fmt)
      local args = { "--query", query, "-o", fmt }
      for i = #SHOW, 1, -1 do table.insert(args, 1, SHOW[i]) end
      return out(args)
    end

    it("a scalar: its value; a table's Result column", function()
      assert.are.equal("fmt-map\n", show("name", "tsv"))
      assert.are.equal("Result\n--------\nfmt-map\n", show("name", "table"))
      assert.are.equal("true\n", show("`true`", "tsv"))
    end)

    it("a list of scalars: one line each", function()
      local args = { "scope-map", "list", "--query", "sort([?starts_with(name, '_')].name)" }
      local want = "_repositories_admin\n_repositories_pull\n_repositories_push\n"
      assert.are.equal(want, out { args[1], args[2], args[3], args[4], "-o", "tsv" })
      assert.are.equal("Result\n-------------------\n" .. want,
        out { args[1], args[2], args[3], args[4], "-o", "table" })
    end)

    it("a list of objects the query made: values in its order; a list is its length, an object nothing", function()
      local q1 = "[?name=='fmt-map'].{n: name, t: properties.type, acts: properties.actions, p: properties}"
      assert.are.equal("fmt-map\tUserDefined\t1\t\n", out { "scope-map", "list", "--query", q1, "-o", "tsv" })
      assert.are.equal("N        T\n-------  -----------\nfmt-map  UserDefined\n",
        out { "scope-map", "list", "--query", q1, "-o", "table" })
    end)

    it("an object of the service's: tsv by sorted key, table in ARM's order without type", function()
      assert.are.equal("1\t" .. date .. "\td\tSucceeded\tUserDefined\n", show("properties", "tsv"))
      local w = math.max(#date, #"CreationDate" + 2)
      assert.are.equal(("%-13s  %-" .. w .. "s  %s\n"):format("Description", "CreationDate",
          "ProvisioningState")
        .. ("%s  %s  %s\n"):format(("-"):rep(13), ("-"):rep(w), ("-"):rep(19))
        .. ("%-13s  %-" .. w .. "s  %s\n"):format("d", date, "Succeeded"),
        show("properties", "table"))
    end)

    it("null, booleans and numbers: None, True/False, digits (numbers right-aligned in a table)", function()
      local q1 = "{a: `true`, b: `null`, c: `3`, d: length(name), e: `false`}"
      assert.are.equal("True\tNone\t3\t7\tFalse\n", show(q1, "tsv"))
      assert.are.equal("A       C    D  E\n"
        .. "----  ---  ---  -----\n"
        .. "True    3    7  False\n", show(q1, "table"))
    end)

    it("a list of lists: tab-separated; a table's Column1…", function()
      assert.are.equal("fmt-map\td\n", show("[[name, properties.description]]", "tsv"))
      assert.are.equal("Column1    Column2\n---------  ---------\nfmt-map    d\n",
        show("[[name, properties.description]]", "table"))
    end)

    it("control characters in values become spaces in tsv and table", function()
      ok { "scope-map", "update", "-n", "fmt-map", "--description", "a\tb\27[31m", "-o", "none" }
      assert.are.equal("a b [31m\n", show("properties.description", "tsv"))
      assert.are.equal("Result\n--------\na b [31m\n", show("properties.description", "table"))
    end)
  end)

  describe("colour", function()
    it("jsonc and yamlc are coloured on a terminal only; json never", function()
      if not have_script then pending("script(1) is not installed") return end
      fixed_map()
      local r = acr({ "scope-map", "show", "-n", "fmt-map", "-o", "jsonc", "--query", "{n: name}" },
        { tty = true })
      assert.are.equal(0, r.code)
      assert.matches('\27%[94m"n"\27%[39m: \27%[33m"fmt%-map"\27%[39m', r.out)
      r = acr({ "scope-map", "show", "-n", "fmt-map", "-o", "yamlc", "--query", "{n: name}" },
        { tty = true })
      assert.matches("\27%[94mn\27%[39m: fmt%-map", r.out)
      r = acr({ "scope-map", "show", "-n", "fmt-map", "-o", "json", "--query", "{n: name}" },
        { tty = true })
      assert.is_nil(r.out:find("\27", 1, true))
      -- a control character of the service's is escaped, never sent to the terminal
      ok { "scope-map", "update", "-n", "fmt-map", "--description", "x\27]0;t\7\194\155y", "-o", "none" }
      r = acr({ "scope-map", "show", "-n", "fmt-map", "-o", "jsonc", "--query", "properties.description" },
        { tty = true })
      assert.matches('"x\\u001b]0;t\\u0007\\u009by"', r.out, 1, true)
      assert.is_nil(r.out:find("\194\155", 1, true))
    end)
  end)
end)
