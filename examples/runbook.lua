-- runbook.lua — what the examples share: the command line (the connection options
-- and the environment variables they fall back on, the refusal of secrets given as
-- arguments, usage errors) and the client made from it. Each example loads it from
-- its own directory:
--
--   package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
--   local runbook = require "runbook"
--   local opts = runbook.parse_args(arg, { prog = "audit", usage = USAGE,
--     values = { ["warn-days"] = false }, flags = { "json" }, check = function(o) … end })
--   local client = runbook.client(opts)
--
-- Exit status, the same for every example: 1 from runbook.fail (a failed call),
-- 2 from runbook.usage_error (parse_args and client use it), 0 after --help.

local acr = require "acr"

local runbook = {}

local prog, usage = "runbook", ""

-- The connection options every example takes, with the environment variable each
-- falls back on.
local CONNECTION = {
  endpoint = "ACR_ENDPOINT", subscription = "AZURE_SUBSCRIPTION_ID",
  ["resource-group"] = "ACR_RESOURCE_GROUP", registry = "ACR_REGISTRY",
  ["ca-file"] = "ACR_CA_FILE",
}
local REQUIRED = { "subscription", "resource-group", "registry" }
-- Refused outright: a secret on the command line shows in `ps` and shell history.
local SECRETS = { ["access-token"] = true, token = true, password = true, secret = true,
                  ["client-secret"] = true }

-- syntax: runbook.usage_error(msg)   the message and the usage on stderr, exit 2
function runbook.usage_error(msg)
  io.stderr:write(prog, ": ", msg, "\n\n", usage, "\n")
  os.exit(2)
end

-- syntax: runbook.fail(err, client?)   "prog: err" on stderr, closes client, exit 1
function runbook.fail(err, client)
  io.stderr:write(prog, ": ", tostring(err), "\n")
  if client then client:close() end
  os.exit(1)
end

-- syntax: opts = runbook.parse_args(argv, spec)
--   spec.prog    the program's name, in front of every message
--   spec.usage   the usage text (--help prints it, a usage error follows with it)
--   spec.values  the example's own options that take a value: name = environment
--                variable it falls back on, or false for none
--   spec.flags   the example's own flags (options without a value), a list of names
--   spec.check   function(opts), called once the required options are there and
--                before the token is read: defaults and checks of the example's own
--                options (runbook.usage_error for a bad one)
-- opts holds each option given (or found in the environment) by its name, flags as
-- true, and opts.token, the bearer token from ACR_ACCESS_TOKEN.
function runbook.parse_args(argv, spec)
  prog, usage = spec.prog, spec.usage
  local values, flags = {}, { help = true }
  for name, env in pairs(CONNECTION) do values[name] = env end
  for name, env in pairs(spec.values or {}) do values[name] = env end
  for _, name in ipairs(spec.flags or {}) do flags[name] = true end

  local o = {}
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, inline = a:match("^%-%-([%w-]+)=(.*)$")
    name = name or a:match("^%-%-([%w-]+)$")
    if not name then runbook.usage_error("unexpected argument '" .. a .. "'") end
    if SECRETS[name] then
      runbook.usage_error("--" .. name .. ": secrets are not taken as arguments; "
        .. "put the bearer token in ACR_ACCESS_TOKEN")
    elseif flags[name] then
      if inline then runbook.usage_error("--" .. name .. " takes no value") end
      o[name] = true
    elseif values[name] ~= nil then
      local v = inline
      if not v then
        i = i + 1
        v = argv[i]
        if not v then runbook.usage_error("--" .. name .. " needs a value") end
      end
      if v == "" then runbook.usage_error("--" .. name .. " must not be empty") end
      o[name] = v
    else
      runbook.usage_error("unknown option --" .. name)
    end
    i = i + 1
  end
  if o.help then
    print(usage)
    os.exit(0)
  end
  for name, env in pairs(values) do
    if o[name] == nil and env then
      local v = os.getenv(env)
      if v and v ~= "" then o[name] = v end
    end
  end
  for _, name in ipairs(REQUIRED) do
    if not o[name] then
      runbook.usage_error("--" .. name .. " is required (or set " .. CONNECTION[name] .. ")")
    end
  end
  if spec.check then spec.check(o) end
  o.token = os.getenv("ACR_ACCESS_TOKEN")
  if not o.token or o.token == "" then
    runbook.usage_error("ACR_ACCESS_TOKEN is not set (a bearer token for Azure Resource Manager)")
  end
  return o
end

-- syntax: client = runbook.client(opts, extra?)
-- An acr.Client for the connection in opts, with a static credential for opts.token
-- (dropped from opts once it is in the credential); extra adds client options
-- (e.g. logger). A client the options do not make is a usage error.
function runbook.client(opts, extra)
  local o = {
    subscription_id = opts.subscription,
    resource_group = opts["resource-group"],
    registry = opts.registry,
    credential = acr.credential.static(opts.token),
    endpoint = opts.endpoint,
    ca_file = opts["ca-file"],
  }
  for k, v in pairs(extra or {}) do o[k] = v end
  opts.token = nil
  local ok, client = pcall(acr.client, o)
  o = nil
  -- misuse reads "bad argument #1 to 'acr.client' (option 'endpoint' …)": the part in
  -- brackets names the problem in the terms of the command line's options
  if not ok then
    local msg = tostring(client)
    runbook.usage_error(msg:match("^bad argument #%d+ to '[^']*' %((.*)%)$") or msg)
  end
  return client
end

return runbook
