-- bin/acr on a real terminal: the delete prompt and the LRO spinner, through
-- util-linux script(1) (package bsdutils, essential in Debian), which gives the
-- command a pseudo-terminal and forwards what is piped into it.
local helpers = require "helpers"
local cjson = require "cjson.safe"

local q = helpers.quote
local TENANT = "00000000-0000-0000-0000-0000000000e1"
local SUB, RG, REG = "00000000-0000-0000-0000-000000000001", "rg-tty", "ttyregistry"

local SCRUB = { "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST",
  "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_FEDERATED_TOKEN_FILE", "IDENTITY_ENDPOINT", "IDENTITY_HEADER",
  "ACR_IMDS_ENDPOINT", "AZURE_SUBSCRIPTION_ID", "ACR_ENDPOINT", "ACR_REGISTRY", "ACR_RESOURCE_GROUP",
  "REQUESTS_CA_BUNDLE", "LUA_CPATH_5_4", "LUA_PATH_5_4", "AZURE_DEFAULTS_GROUP", "AZURE_DEFAULTS_ACR",
  "AZURE_CORE_OUTPUT" }

local have_script = helpers.sh("command -v script")

-- syntax: r = cli(em, args, {tty=?, input=?})  -- r.code, r.out, r.err (without tty),
-- r.json; with tty, r.out is the terminal's whole output (stdout and stderr).
local function cli(em, args, opts)
  opts = opts or {}
  local parts = { "env" }
  for _, k in ipairs(SCRUB) do parts[#parts + 1] = "-u " .. k end
  for k, v in pairs {
    AZURE_TENANT_ID = TENANT, AZURE_CLIENT_ID = em.client_id, AZURE_CLIENT_SECRET = em.client_secret,
    AZURE_AUTHORITY_HOST = em.url, AZURE_SUBSCRIPTION_ID = SUB, ACR_IMDS_ENDPOINT = "http://127.0.0.1:9",
    LUA_CPATH = (os.getenv("ACR_CPATH") or (helpers.root .. "/build/lua5.4/?.so")) .. ";;",
    AZURE_CONFIG_DIR = helpers.root .. "/spec/no-such-azure-dir",   -- no az defaults or profile
  } do
    parts[#parts + 1] = q(k .. "=" .. v)
  end
  parts[#parts + 1] = q(os.getenv("ACR_LUA") or "lua5.4")
  parts[#parts + 1] = q(helpers.root .. "/bin/acr")
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  for _, a in ipairs { "--endpoint", em.url, "--ca-file", em.ca_file, "-g", RG, "-r", REG } do
    parts[#parts + 1] = q(a)
  end
  local cmd = table.concat(parts, " ")
  local input = opts.input and ("printf %s | "):format(q(opts.input)) or ""
  if opts.tty then
    local _, out, code = helpers.sh(input .. "SHELL=/bin/sh script -qfec " .. q(cmd) .. " /dev/null"
      .. (opts.input and "" or " </dev/null"))
    return { code = code, out = out }
  end
  local errfile = os.tmpname()
  local _, out, code = helpers.sh(input .. cmd .. " 2>" .. q(errfile) .. (opts.input and "" or " </dev/null"))
  local err = helpers.read_file(errfile) or ""
  os.remove(errfile)
  return { code = code, out = out, err = err, json = cjson.decode(out) }
end

local function token_status(em, name)
  return (em:arm("GET", em:registry_path(SUB, RG, REG) .. "/tokens/" .. name))
end

describe("acr command line on a terminal #emulator #cli", function()
  local em
  setup(function()
    em = helpers.start_emulator{ tls = true, polls = 0, retry_after = 0,
      registries = { SUB .. "/" .. RG .. "/" .. REG } }
  end)
  teardown(function() if em then em:stop() end end)
  before_each(function()
    em:reset()
    em:settings{ polls = 0, retry_after = 0 }
    assert.are.equal(0, cli(em, { "scope-map", "create", "-n", "map-tty", "--repository", "app",
                                  "content/read" }).code)
    assert.are.equal(0, cli(em, { "token", "create", "-n", "tok-tty", "--scope-map", "map-tty",
                                  "--no-passwords" }).code)
  end)

  it("script(1) is installed", function()
    assert.is_true(have_script, "util-linux script(1) is needed: apt-get install bsdutils")
  end)

  describe("delete", function()
    it("asks on a terminal; 'y' deletes", function()
      if not have_script then pending("no script(1)") return end
      local r = cli(em, { "token", "delete", "-n", "tok-tty" }, { tty = true, input = "y\n" })
      assert.are.equal(0, r.code, r.out)
      assert.matches("Delete token 'tok%-tty'%.", r.out)
      assert.matches("Are you sure%? %(y/n%): ", r.out)
      assert.are.equal(404, token_status(em, "tok-tty"))
    end)

    it("'n' keeps it: exit 1, Operation cancelled, nothing sent", function()
      if not have_script then pending("no script(1)") return end
      local r = cli(em, { "token", "delete", "-n", "tok-tty" }, { tty = true, input = "n\n" })
      assert.are.equal(1, r.code, r.out)
      assert.matches("Are you sure%? %(y/n%): ", r.out)
      assert.matches("Operation cancelled%.", r.out)
      assert.are.equal(200, token_status(em, "tok-tty"))
      assert.are.equal(0, ((em:stats() or {}).requests or {})["DELETE token"] or 0)
    end)

    it("asks again until it gets y or n; end of input is no", function()
      if not have_script then pending("no script(1)") return end
      local r = cli(em, { "scope-map", "delete", "-n", "map-tty" }, { tty = true, input = "maybe\nyes\n" })
      assert.are.equal(0, r.code, r.out)
      local _, asked = r.out:gsub("Are you sure%? %(y/n%): ", "")
      assert.are.equal(2, asked)
    end)

    it("token credential delete does not ask, on a terminal either, as az does not", function()
      if not have_script then pending("no script(1)") return end
      assert.are.equal(0, cli(em, { "token", "credential", "generate", "-n", "tok-tty", "-o", "none" }).code)
      local r = cli(em, { "token", "credential", "delete", "-n", "tok-tty", "--password1" }, { tty = true, input = "" })
      assert.are.equal(0, r.code, r.out)
      assert.is_nil(r.out:find("Are you sure", 1, true))
      assert.are.equal(1, ((em:stats() or {}).requests or {})["PATCH token"] or 0)
    end)

    it("with no terminal and no --yes: refuses, exit 2, nothing deleted", function()
      local r = cli(em, { "token", "delete", "-n", "tok-tty" }, { input = "y\n" })
      assert.are.equal(2, r.code)
      assert.matches("refusing to delete token 'tok%-tty' without %-%-yes", r.err)
      assert.matches("\nTry 'acr token delete %-%-help'\n$", r.err)
      assert.are.equal(200, token_status(em, "tok-tty"))
    end)

    it("--yes on a terminal does not ask", function()
      if not have_script then pending("no script(1)") return end
      local r = cli(em, { "token", "delete", "-n", "tok-tty", "--yes" }, { tty = true })
      assert.are.equal(0, r.code, r.out)
      assert.is_nil(r.out:find("Are you sure", 1, true))
      assert.are.equal(404, token_status(em, "tok-tty"))
    end)
  end)

  describe("spinner", function()
    it("shows the operation's status on a terminal while it runs, then clears its line", function()
      if not have_script then pending("no script(1)") return end
      em:settings{ polls = 1, retry_after = 1 }
      local r = cli(em, { "token", "update", "-n", "tok-tty", "--status", "disabled" }, { tty = true })
      assert.are.equal(0, r.code, r.out)
      assert.matches("\r[|/\\%-] Running update token tok%-tty: InProgress", r.out)
      local frames = select(2, r.out:gsub("Running update token", ""))
      assert.is_true(frames >= 5, "frames: " .. frames)
      assert.matches("\r\27%[K", r.out)
      assert.matches('"status": "disabled"', r.out)
    end)

    it("writes no control character of the service's status to the terminal", function()
      if not have_script then pending("no script(1)") return end
      em:settings{ polls = 2, retry_after = 1 }
      em:admin("POST", "inject", { path = "/operationStatuses/", method = "GET", times = 1,
        status = 200, body = '{"status":"In\\u001b[2JProg\\u0007ress\\u009b"}',
        headers = { ["Content-Type"] = "application/json", ["Retry-After"] = "1" } })
      local r = cli(em, { "token", "update", "-n", "tok-tty", "--status", "disabled" }, { tty = true })
      assert.are.equal(0, r.code, r.out)
      assert.are.equal(1, ((em:stats() or {}).requests or {})["GET injected"] or 0)
      assert.matches("Running update token tok%-tty: In %[2JProg ress", r.out)
      assert.is_nil(r.out:find("\27[2J", 1, true))
      assert.is_nil(r.out:find("\7", 1, true))
      assert.is_nil(r.out:find("\194\155", 1, true))
      assert.matches('"status": "disabled"', r.out)
    end)

    it("is not drawn when stderr is not a terminal", function()
      em:settings{ polls = 1, retry_after = 1 }
      local r = cli(em, { "token", "update", "-n", "tok-tty", "--status", "disabled" })
      assert.are.equal(0, r.code, r.err)
      assert.are.equal("", r.err)
      assert.are.equal("disabled", r.json.properties.status)
      assert.is_nil(r.out:find("Running", 1, true))
      assert.is_true((((em:stats() or {}).requests or {})["GET operationStatus"] or 0) >= 2)
    end)
  end)
end)
