-- acr.cli.config — the connection a command line describes: its options completed
-- from the environment, the settings every command needs, and the client made of
-- them with the environment's credential.

local acr = require "acr"
local args = require "acr.cli.args"
local fail = require "acr.cli.fail"
local output = require "acr.cli.output"

local _M = {}

local REQUIRED = { "subscription", "resource-group", "registry" }

-- syntax: config.settle(o, cmd)
-- Fills what the command line left out from the environment (an option wins over its
-- variable), then refuses (usage) a bad format or a missing setting.
function _M.settle(o, cmd)
  for name, spec in pairs(args.COMMON) do
    if o[name] == nil and spec.env then
      local v = os.getenv(spec.env)
      if v and v ~= "" then o[name] = v end
    end
  end
  -- as az: AZURE_CORE_OUTPUT is the default format; the name in any case
  local env_output = os.getenv("AZURE_CORE_OUTPUT")
  o.output = (o.output or (env_output ~= "" and env_output) or "json"):lower()
  if not output.is_format(o.output) then
    fail.usage("--output must be " .. output.FORMAT_NAMES, cmd)
  end
  output.check_query(o, cmd)
  for _, req in ipairs(REQUIRED) do
    if not o[req] then
      fail.usage(("--%s is required (or set %s)"):format(req, args.COMMON[req].env), cmd)
    end
  end
  if cmd.needs_name ~= false and not o.name then fail.usage("--name is required", cmd) end
end

-- One line per HTTP exchange on stderr (the module never logs a secret), and one per
-- retry decision: --verbose and --debug both show them all.
local function verbose_logger(level, message)
  io.stderr:write("acr: ", tostring(level), ": ", tostring(message), "\n")
end

-- syntax: client = config.client(o)  -- the credential from acr.credential.default()
function _M.client(o)
  local cred = fail.guarded(acr.credential.default)
  return fail.guarded(acr.client, {
    subscription_id = o.subscription, resource_group = o["resource-group"],
    registry = o.registry, credential = cred, cloud = o.cloud, endpoint = o.endpoint,
    ca_file = o["ca-file"], logger = (o.verbose or o.debug) and verbose_logger or nil,
    user_agent = "acr-cli/" .. tostring(acr._VERSION),
  })
end

return _M
