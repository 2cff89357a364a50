-- Helpers for the specs that run bin/acr as a subprocess against an emulator: an
-- environment of the spec's own (every variable acr or its credentials read is unset
-- first, then the emulator's client secret credential is given), the interpreter the
-- flavour runs, and --endpoint/--ca-file pointing at the emulator.
local helpers = require "helpers"
local cjson = require "cjson.safe"

local q = helpers.quote

local M = {}

M.TENANT = "00000000-0000-0000-0000-0000000000e1"

-- What the environment could otherwise give acr: all unset for each run.
M.SCRUB = { "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET", "AZURE_AUTHORITY_HOST",
  "AZURE_CLIENT_CERTIFICATE_PATH", "AZURE_CLIENT_CERTIFICATE_PASSWORD", "AZURE_FEDERATED_TOKEN_FILE",
  "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "ACR_IMDS_ENDPOINT", "AZURE_SUBSCRIPTION_ID", "ACR_ENDPOINT",
  "ACR_REGISTRY", "ACR_RESOURCE_GROUP", "REQUESTS_CA_BUNDLE", "LUA_CPATH_5_4", "LUA_PATH_5_4",
  "AZURE_CONFIG_DIR", "AZURE_DEFAULTS_GROUP", "AZURE_DEFAULTS_ACR", "AZURE_CORE_OUTPUT", "HOME", "PATH",
  "XDG_STATE_HOME" }

M.interp = os.getenv("ACR_LUA") or select(2, helpers.sh("command -v lua5.4")):gsub("%s+$", "")

-- syntax: cmd = M.command(em, args, vars?, extra?)  -- the shell command line of one run:
-- vars are set over the credential's (a value of false unsets one); extra follows args
-- (by default --endpoint and --ca-file of em)
function M.command(em, args, vars, extra)
  local env = {
    AZURE_TENANT_ID = M.TENANT, AZURE_CLIENT_ID = em.client_id, AZURE_CLIENT_SECRET = em.client_secret,
    AZURE_AUTHORITY_HOST = em.url, ACR_IMDS_ENDPOINT = "http://127.0.0.1:9",
    LUA_CPATH = (os.getenv("ACR_CPATH") or (helpers.root .. "/build/lua5.4/?.so")) .. ";;",
  }
  for k, v in pairs(vars or {}) do env[k] = v or nil end
  local parts = { "env" }
  for _, k in ipairs(M.SCRUB) do parts[#parts + 1] = "-u " .. k end
  for k, v in pairs(env) do parts[#parts + 1] = q(k .. "=" .. v) end
  parts[#parts + 1] = q(M.interp)
  parts[#parts + 1] = q(helpers.root .. "/bin/acr")
  for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
  for _, a in ipairs(extra or { "--endpoint", em.url, "--ca-file", em.ca_file }) do parts[#parts + 1] = q(a) end
  return table.concat(parts, " ")
end

-- syntax: r = M.run(em, args, {vars=?, extra=?, errfile=})  -- r.code, r.out, r.err, r.json
function M.run(em, args, opts)
  local _, out, code = helpers.sh(M.command(em, args, opts.vars, opts.extra) .. " 2>" .. q(opts.errfile)
    .. " </dev/null")
  return { code = code, out = out, err = helpers.read_file(opts.errfile) or "", json = cjson.decode(out) }
end

-- syntax: r = M.run_tty(em, args, {vars=?, extra=?})  -- on a pseudo-terminal (script(1)):
-- r.out is all the terminal showed, stdout and stderr
function M.run_tty(em, args, opts)
  local _, out, code = helpers.sh("SHELL=/bin/sh script -qfec " .. q(M.command(em, args, opts.vars, opts.extra))
    .. " /dev/null </dev/null")
  return { code = code, out = out }
end

return M
