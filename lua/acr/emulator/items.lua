-- The calls on one scope map or token (GET, PUT, PATCH, DELETE) and on
-- generateCredentials: what each changes, run as an operation of lro.lua.

local json = require "acr.emulator.json"
local util = require "acr.emulator.util"
local registry = require "acr.emulator.registry"
local login = require "acr.emulator.login"
local R = require "acr.emulator.reply"
local resource = require "acr.emulator.resource"
local validate = require "acr.emulator.validate"
local lro = require "acr.emulator.lro"

local _M = { _VERSION = "0.1.0" }

local reply, not_found = R.reply, R.not_found

local SYSTEM = {}
for _, m in ipairs(registry.SYSTEM_MAPS) do SYSTEM[m.name:lower()] = true end

local function refuse_system(name)
  if SYSTEM[name:lower()] then
    validate.invalid("OperationNotAllowed", "The scope map '" .. name
      .. "' is system defined and cannot be created, updated or deleted.")
  end
end

-- A list that is given replaces the token's: what it names stays (keeping its
-- creation time, and its expiry unless a new one is given), the rest is removed.
local function replace_credentials(target, creds, now)
  for _, kind in ipairs { "passwords", "certificates" } do
    if creds.given[kind] then
      local kept = {}
      for n, c in pairs(creds[kind]) do
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

-- syntax: items.item(ctx, reg)   GET, PUT, PATCH or DELETE of a scope map or token
function _M.item(ctx, reg)
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
      if v.credentials then replace_credentials(target, v.credentials, now) end
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

-- syntax: items.generate_credentials(ctx, reg)   POST generateCredentials
-- New passwords for a token; they take its slots when the operation succeeds.
function _M.generate_credentials(ctx, reg)
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

return _M
