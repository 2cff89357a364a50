-- acr.cli.config — the connection a command line describes: its options completed
-- from the environment and az's defaults, the settings every command needs (looked
-- up through ARM when az would), and the client made of them with the environment's
-- credential.

local acr = require "acr"
local args = require "acr.cli.args"
local fail = require "acr.cli.fail"
local lookup = require "acr.cli.lookup"
local output = require "acr.cli.output"

local _M = {}

-- syntax: config.settle(o, cmd)
-- Fills what the command line left out: from the environment (an option wins over its
-- variable), then from az's defaults (lookup.defaults: AZURE_DEFAULTS_GROUP/ACR,
-- AZURE_CORE_OUTPUT, then az's config file), the subscription last from az's profile.
-- Refuses (usage) a bad format or a missing setting. The resource group may stay
-- unknown: config.client looks it up. A command with own_clients takes no registry and
-- needs no --name; one whose --subscription repeats gets o.subscription as a list.
function _M.settle(o, cmd)
  o._subscription_by = o.subscription and "--subscription" or "AZURE_SUBSCRIPTION_ID"
  for name, spec in pairs(args.COMMON) do
    if o[name] == nil and spec.env and args.spec_of(cmd, name) then
      local v = os.getenv(spec.env)
      if v and v ~= "" then o[name] = v end
    end
  end
  local d = lookup.defaults()
  if not cmd.own_clients then
    if o.registry == nil then o.registry = d.acr end
    if o["resource-group"] == nil then o["resource-group"] = d.group end
  end
  -- as az: the default format (AZURE_CORE_OUTPUT, then [core] output), the name in any case
  o._output_given = o.output ~= nil   -- acr plan prints its diff unless -o asks otherwise
  local format_by = o.output and "--output" or d.output and ("the default output (" .. d.source.output .. ")")
  o.output = (o.output or d.output or "json"):lower()
  if not output.is_format(o.output) then
    fail.usage(format_by .. " must be " .. output.FORMAT_NAMES, cmd)
  end
  output.check_query(o, cmd)
  -- the subscriptions are the file's (acr plan, acr apply); --subscription picks among them
  if cmd.subscriptions_from_file then return end
  if not o.subscription then
    o.subscription, o._subscription_by = lookup.default_subscription(), "az's default subscription"
  end
  if not o.subscription then
    fail.usage("--subscription is required (or set AZURE_SUBSCRIPTION_ID, or a default "
      .. "subscription in az's profile: az account set)", cmd)
  end
  local sub_spec = args.spec_of(cmd, "subscription")
  if sub_spec and sub_spec.kind == "repeat" and type(o.subscription) == "string" then
    o.subscription = { o.subscription }
  end
  if cmd.own_clients then return end
  if not o.registry then
    fail.usage("--registry is required (or set ACR_REGISTRY, or az's default: AZURE_DEFAULTS_ACR, "
      .. "[defaults] acr in az's config)", cmd)
  end
  if cmd.needs_name ~= false and not o.name then fail.usage("--name is required", cmd) end
end

-- One line per HTTP exchange on stderr (the module never logs a secret), and one per
-- retry decision: --verbose and --debug both show them all.
local function verbose_logger(level, message)
  io.stderr:write("acr: ", tostring(level), ": ", tostring(message), "\n")
end

-- The subscription of the client that looks up the real one (it names no resource).
local LOOKUP_SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
_M.LOOKUP_SUBSCRIPTION = LOOKUP_SUBSCRIPTION

-- What a client for subscription-wide lists is told: acr.client wants a resource group
-- and a registry, and these are never part of a URL it sends.
local NO_GROUP, NO_REGISTRY = "none", "noregistry"

-- syntax: client = config.client_for(o, {subscription=, resource_group=?, registry=?})
-- A client with the options' connection (--endpoint, --cloud, --ca-file, --verbose) and
-- the one credential of this command line, acr.credential.default() made once, so every
-- client shares its token. Without resource_group and registry: a client for lists of
-- the subscription (its registries). Each client is kept in o._clients, which main
-- closes at the end (closing is idempotent: a command may close its own sooner).
function _M.client_for(o, where)
  if not o._credential then o._credential = fail.guarded(acr.credential.default) end
  local c = fail.guarded(acr.client, {
    subscription_id = where.subscription, resource_group = where.resource_group or NO_GROUP,
    registry = where.registry or NO_REGISTRY, credential = o._credential, cloud = o.cloud,
    endpoint = o.endpoint, ca_file = o["ca-file"],
    logger = (o.verbose or o.debug) and verbose_logger or nil,
    user_agent = "acr-cli/" .. tostring(acr._VERSION),
  })
  o._clients = o._clients or {}
  o._clients[#o._clients + 1] = c
  return c
end

-- syntax: client = config.client(o)  -- ctx.client: the registry -r names
-- A subscription given by name, or a registry without its resource group, is looked up
-- first (lookup.subscription, lookup.resource_group) by a client of its own with the
-- same credential, so one token serves both; o then holds what was found.
function _M.client(o)
  local function make(sub, rg)
    return _M.client_for(o, { subscription = sub, resource_group = rg, registry = o.registry })
  end
  if not lookup.is_guid(o.subscription) or not o["resource-group"] then
    local c = make(lookup.is_guid(o.subscription) and o.subscription or LOOKUP_SUBSCRIPTION,
      o["resource-group"] or "lookup")
    local ok, e = pcall(function()
      local name
      o.subscription, name = lookup.subscription(c, o.subscription, o._subscription_by)
      if not o["resource-group"] then
        o["resource-group"] = lookup.resource_group(c, o.subscription, o.registry, name)
      end
    end)
    c:close()
    if not ok then error(e, 0) end
  end
  return make(o.subscription, o["resource-group"])
end

return _M
