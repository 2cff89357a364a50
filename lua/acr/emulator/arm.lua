-- The ARM side of the emulator: the router of the 11 operations of the scope map /
-- token OpenAPI document and of the lookups. A request that --fail-rate does not
-- fault is authenticated, throttled, checked (api-version, method, names, registry)
-- and given to the handler of its route; a failed check (validate.lua) answers 400.

local state = require "acr.emulator.state"
local util = require "acr.emulator.util"
local auth = require "acr.emulator.auth"
local throttle = require "acr.emulator.throttle"
local registry = require "acr.emulator.registry"
local versions = require "acr.emulator.versions"
local R = require "acr.emulator.reply"
local routes = require "acr.emulator.route"
local validate = require "acr.emulator.validate"
local lro = require "acr.emulator.lro"
local paging = require "acr.emulator.paging"
local lookup = require "acr.emulator.lookup"
local items = require "acr.emulator.items"
local fault = require "acr.emulator.fault"

local _M = { _VERSION = "0.1.0" }

local S = state

local ALLOWED = {
  scopeMaps = "GET", tokens = "GET",
  scopeMap = "GET, PUT, PATCH, DELETE", token = "GET, PUT, PATCH, DELETE",
  generateCredentials = "POST",
  operationStatus = "GET", operationResult = "GET",
  subscriptions = "GET", registries = "GET",
}

-- route type -> handler(ctx, reg): reg is the registry the path names, when it names one
local handlers = {
  subscriptions = lookup.subscriptions,
  registries = lookup.registries,
  scopeMaps = function(ctx, reg) return paging.list(ctx, reg, "scopeMaps") end,
  tokens = function(ctx, reg) return paging.list(ctx, reg, "tokens") end,
  scopeMap = items.item,
  token = items.item,
  generateCredentials = items.generate_credentials,
  operationStatus = lro.status,
  operationResult = lro.result,
}

local base_url = util.base_url
local fail = R.fail
_M.fail = fail

local function run(ctx)
  local route = ctx.route
  local claims, code, message = auth.verify_bearer(ngx.req.get_headers()["authorization"])
  if not claims then
    local desc = message:gsub('"', "'")
    return fail(401, code, message, { ["WWW-Authenticate"] = 'Bearer authorization_uri="'
      .. base_url() .. '/", error="invalid_token", error_description="' .. desc .. '"' })
  end
  -- ARM throttles who is asking, so only after authentication (claims name the actor)
  local wait, why = throttle.charge(ctx, route.sub, claims)
  if wait then
    return fail(429, "SubscriptionRequestsThrottled", why, { ["Retry-After"] = tostring(wait) })
  end
  if route.type == "unknown" then return routes.unknown(route) end

  local version, given = versions.check(route.type)
  if version == nil then
    return fail(400, "MissingApiVersionParameter",
      "The api-version query parameter (?api-version=) is required for all requests.")
  elseif not version then
    return fail(400, "InvalidApiVersionParameter", "The api-version '" .. given
      .. "' is invalid. The supported versions are '" .. versions.supported(route.type) .. "'.")
  end
  ctx.api_version = version

  local allowed = ALLOWED[route.type]
  if not allowed:find(ctx.method, 1, true) then
    return fail(405, "MethodNotAllowed", "The requested resource does not support http method '"
      .. ctx.method .. "'.", { Allow = allowed })
  end

  local reg
  if route.reg then
    validate.check_name("registry", route.reg)
    if route.name then validate.check_name(route.coll, route.name) end
    reg = S.registries[registry.key(route.sub, route.rg, route.reg)]
    if not reg then return R.registry_not_found(route) end
  end
  return handlers[route.type](ctx, reg)
end

-- syntax: arm.handle(segments)   context: content_by_lua
function _M.handle(segs)
  local ctx = ngx.ctx
  ctx.method = ngx.req.get_method()
  ctx.route = routes.parse(segs)
  ctx.kind = ctx.method .. " " .. ctx.route.type   -- the name /__admin/stats counts under
  -- HEAD is answered as GET; nginx sends the status and headers without the body
  if ctx.method == "HEAD" then ctx.method = "GET" end
  if fault.maybe() then return end
  -- Read the whole body now: read_body() can yield, and the handlers must not
  -- look at state before a yield and act on it after.
  ngx.req.read_body()
  local latency = S.settings.latency_ms
  if latency > 0 then ngx.sleep(latency / 1000) end
  local ok, err = pcall(run, ctx)
  if not ok then
    if validate.is_invalid(err) then
      return fail(400, err.code, err.message)
    end
    error(err, 0)
  end
end

-- syntax: arm.too_large()   ARM's shape, not nginx's HTML page, for a body over client_max_body_size
function _M.too_large()
  return fail(413, "RequestEntityTooLarge", "The request content is too large.")
end

return _M
