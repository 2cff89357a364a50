-- The ARM side of the emulator: the 11 operations of the scope map / token
-- OpenAPI document, their long-running-operation resources, paging, validation
-- and ARM's headers and error bodies.

local state = require "acr.emulator.state"
local json = require "acr.emulator.json"
local util = require "acr.emulator.util"
local auth = require "acr.emulator.auth"
local throttle = require "acr.emulator.throttle"
local registry = require "acr.emulator.registry"
local login = require "acr.emulator.login"
local versions = require "acr.emulator.versions"
local R = require "acr.emulator.reply"
local routes = require "acr.emulator.route"
local resource = require "acr.emulator.resource"
local validate = require "acr.emulator.validate"
local lro = require "acr.emulator.lro"
local paging = require "acr.emulator.paging"
local lookup = require "acr.emulator.lookup"

local _M = { _VERSION = "0.1.0" }

local S = state

local PROVIDER = registry.PROVIDER

local SYSTEM_MAPS = registry.SYSTEM_MAPS

local ALLOWED = {
  scopeMaps = "GET", tokens = "GET",
  scopeMap = "GET, PUT, PATCH, DELETE", token = "GET, PUT, PATCH, DELETE",
  generateCredentials = "POST",
  operationStatus = "GET", operationResult = "GET",
  subscriptions = "GET", registries = "GET",
}

local base_url = util.base_url
local reply, fail, not_found = R.reply, R.fail, R.not_found
_M.fail = fail

---------------------------------------------------------------------------
-- handlers
---------------------------------------------------------------------------

local SYSTEM = {}
for _, m in ipairs(SYSTEM_MAPS) do SYSTEM[m.name:lower()] = true end

local function refuse_system(name)
  if SYSTEM[name:lower()] then
    validate.invalid("OperationNotAllowed", "The scope map '" .. name
      .. "' is system defined and cannot be created, updated or deleted.")
  end
end

local handlers = {}

handlers.subscriptions = lookup.subscriptions
handlers.registries = lookup.registries
handlers.scopeMaps = function(ctx, reg) return paging.list(ctx, reg, "scopeMaps") end
handlers.tokens = function(ctx, reg) return paging.list(ctx, reg, "tokens") end

local function item(ctx, reg)
  local r = ctx.route
  local coll = r.coll
  local key = r.name:lower()
  local res = reg[coll][key]
  local method = ctx.method

  if method == "GET" then
    if not res then return not_found(r.name) end
    lro.body_style_poll(res)
    return reply(200, resource.render(reg, coll, res))
  end

  local url = resource.registry_url(reg) .. "/" .. coll .. "/" .. ngx.escape_uri(r.name)

  if method == "DELETE" then
    if coll == "scopeMaps" then refuse_system(r.name) end
    if not res then return reply(204) end
    local op
    op = {
      verb = "delete", resource = res, fail = lro.take_fail(r.name), status_base = url,
      apply = function() res.state = "Deleting" end,
      on_success = function()
        if reg[coll][key] == res then reg[coll][key] = nil end
      end,
      on_failure = function()
        if res.pending == op then res.state, res.pending = "Failed", nil end
      end,
      final = function() return 200 end,
    }
    return lro.begin(ctx, op)
  end

  -- PUT / PATCH
  if coll == "scopeMaps" then refuse_system(r.name) end
  local is_patch = method == "PATCH"
  if is_patch and not res then
    validate.read_body() -- a malformed body is still reported as such
    return not_found(r.name)
  end
  local body = validate.read_body()
  local v = coll == "scopeMaps" and validate.check_scope_map(body, is_patch)
    or validate.check_token(reg, body, is_patch)
  local creating = not res
  local target = res or { name = r.name, creation_date = util.iso_time(),
    passwords = {}, certificates = {} }

  local function apply()
    local now = util.iso_time()
    if coll == "scopeMaps" then
      target.type = "UserDefined"
      target.actions = v.actions or target.actions
      if is_patch then
        target.description = v.description or target.description
      else
        target.description = v.description
      end
    else
      target.scope_map_id = v.scope_map_id or target.scope_map_id
      target.status = v.status or (not is_patch and "enabled") or target.status
      if v.object_id or not is_patch then target.object_id = v.object_id end
      if v.credentials then
        -- A list that is given replaces the token's: what it names stays (keeping its
        -- creation time, and its expiry unless a new one is given), the rest is removed.
        for _, kind in ipairs { "passwords", "certificates" } do
          if v.credentials.given[kind] then
            local kept = {}
            for n, c in pairs(v.credentials[kind]) do
              local old = target[kind][n]
              kept[n] = {
                creation_time = old and old.creation_time or now,
                expiry = c.expiry or (old and old.expiry),
                thumbprint = c.thumbprint or (old and old.thumbprint),
                hash = old and old.hash,   -- a kept password still logs in
              }
            end
            target[kind] = kept
          end
        end
      end
    end
    target.state = creating and "Creating" or "Updating"
    reg[coll][key] = target
  end

  local op
  op = {
    verb = creating and "create" or "update", resource = target, fail = lro.take_fail(r.name),
    status_base = url, apply = apply,
    on_success = function()
      if target.pending == op then target.state, target.pending = "Succeeded", nil end
    end,
    on_failure = function()
      if target.pending == op then target.state, target.pending = "Failed", nil end
    end,
    render = function() return resource.render(reg, coll, target) end,
    final = function() return 200, resource.render(reg, coll, target) end,
  }
  return lro.begin(ctx, op)
end

handlers.scopeMap = item
handlers.token = item

handlers.operationStatus = lro.status
handlers.operationResult = lro.result

handlers.generateCredentials = function(ctx, reg)
  local req = validate.check_generate(reg, validate.read_body())
  local tok = reg.tokens[req.key]
  if not tok then return not_found(req.token_name) end
  local name, expiry = req.name, req.expiry

  local now = util.iso_time()
  local generated = {}
  for _, n in ipairs(name and { name } or { "password1", "password2" }) do
    generated[#generated + 1] = { name = n, creation_time = now, expiry = expiry, value = util.password() }
  end
  local function result()
    local pw = json.array()
    for i, g in ipairs(generated) do
      pw[i] = json.object("creationTime", g.creation_time, "expiry", g.expiry, "name", g.name, "value", g.value)
    end
    return 200, json.object("username", tok.name, "passwords", pw)
  end
  return lro.begin(ctx, {
    verb = "post", fail = lro.take_fail(tok.name), status_base = resource.registry_url(reg),
    apply = function() end,
    on_success = function()
      for _, g in ipairs(generated) do
        tok.passwords[g.name] = { creation_time = g.creation_time, expiry = g.expiry,
          hash = login.hash(g.value) }
      end
    end,
    final = result,
  })
end

---------------------------------------------------------------------------
-- entry
---------------------------------------------------------------------------

local function maybe_fault()
  local rate = S.settings.fail_rate
  if rate <= 0 or S.prng:next() >= rate then return false end
  local pick = math.floor(S.prng:next() * 4)
  if pick == 3 then
    ngx.ctx.fault = "drop"
    ngx.exit(444)
    return true
  end
  local wait = tostring(math.min(S.settings.retry_after, 1))
  if pick == 0 then
    fail(429, "SubscriptionRequestsThrottled",
      "Number of requests for subscription exceeded the limit. Please try again after '" .. wait .. "' seconds.",
      { ["Retry-After"] = wait })
  elseif pick == 1 then
    fail(500, "InternalServerError", "Encountered internal server error (injected fault).")
  else
    fail(503, "ServiceUnavailable", "The service is temporarily unavailable (injected fault).",
      { ["Retry-After"] = wait })
  end
  return true
end

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
  if maybe_fault() then return end
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
