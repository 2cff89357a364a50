-- acr.desired.steps — what each kind of change does, as the body of a coroutine:
-- `await(f)` yields f (a function that begins an operation) to acr.desired.apply and
-- returns the operation's value, err. A body returns true, or false and an error.
--
-- A rotation keeps consumers working at every moment: a password the sink holds is
-- withdrawn from it before its slot is written again; the new password is recorded in
-- the ledger as intended before it is asked for and as generated once it exists, and
-- delivered only when the sink says so. A run killed in between leaves a record that
-- the next plan reads as "generated and never delivered": it generates that slot again
-- and leaves the other alone.
local acr = require "acr"
local json = require "acr.json"
local time = require "acr.time"

local _M = {}

local function await(f) return coroutine.yield(f) end

local function fail(code, message) return false, acr.error(code, message) end

local function client_of(c) return c.entry.client end

local function where(c)
  local reg = c.registry
  return { subscription = reg.subscription, resource_group = reg.resource_group, registry = reg.name }
end

-- The sink's view of a slot: who it is for, and (deliver) the password itself.
local function secret_of(c, ctx, slot, fields)
  local reg = c.registry
  local s = {
    subscription = reg.subscription, resource_group = reg.resource_group, registry = reg.name,
    login_server = reg.login_server or (reg.name:lower() .. (ctx.login_server_suffix or ".azurecr.io")),
    token = c.name, username = c.name, slot = slot,
  }
  for k, v in pairs(fields) do s[k] = v end
  return s
end

local function ok_or_fail(v, err)
  if v == nil then return false, err end
  return true
end

local BODIES = {}

BODIES["create scope_map"] = function(c)
  local cl = client_of(c)
  return ok_or_fail(await(function()
    return cl:begin_create_scope_map(c.name, { actions = c.actions, description = c.description })
  end))
end

BODIES["update scope_map"] = function(c)
  local cl = client_of(c)
  return ok_or_fail(await(function()
    return cl:begin_update_scope_map(c.name, { actions = c.actions, description = c.description })
  end))
end

BODIES["delete scope_map"] = function(c)
  local cl = client_of(c)
  return ok_or_fail(await(function() return cl:begin_delete_scope_map(c.name) end))
end

BODIES["create token"] = function(c)
  local cl = client_of(c)
  return ok_or_fail(await(function()
    return cl:begin_create_token(c.name, { scope_map = c.scope_map, status = c.status })
  end))
end

BODIES["update token"] = function(c)
  local cl = client_of(c)
  return ok_or_fail(await(function()
    return cl:begin_update_token(c.name, { scope_map = c.scope_map, status = c.status })
  end))
end

BODIES["delete token"] = function(c)
  local cl = client_of(c)
  return ok_or_fail(await(function() return cl:begin_delete_token(c.name) end))
end

-- Takes the slot's password out of the sink (it is about to stop working).
local function withdraw(c, ctx, slot)
  local rec = ctx.ledger:get(c.key, slot)
  local ok, err = ctx.sink:withdraw(secret_of(c, ctx, slot, { action = "withdraw",
    creation_time = rec and rec.creation_time }))
  if not ok then
    return fail("SinkFailed", ("the sink did not withdraw %s of token '%s': %s"):format(slot, c.name, tostring(err)))
  end
  return true
end

local function generated_password(creds, slot)
  for _, p in ipairs(type(creds) == "table" and creds.passwords or {}) do
    if p.name == slot and type(p.value) == "string" and p.value ~= "" then return p end
  end
end

BODIES["rotate token"] = function(c, ctx)
  if not ctx.sink then
    return fail("NoSink", "a rotation needs a sink for the new password (secrets_dir, secrets_exec "
      .. "or a function): nothing was generated")
  end
  if c.withdraw then
    local ok, err = withdraw(c, ctx, c.slot)
    if not ok then return false, err end
  end
  local now = ctx.now or os.time()
  local expiry = c.lifetime and time.iso(now + c.lifetime) or nil
  -- no generation that the ledger could not announce: a run killed after it would
  -- leave a password nobody knows was never delivered
  local noted, lerr = ctx.ledger:intend(c.key, c.slot, now)
  if not noted then return fail("LedgerFailed", "the ledger could not be written: " .. tostring(lerr)) end
  local cl = client_of(c)
  local creds, err = await(function()
    return cl:begin_generate_credentials { token = c.name, name = c.slot, expiry = expiry }
  end)
  if not creds then return false, err end
  local p = generated_password(creds, c.slot)
  if not p then
    return fail("InvalidResponse", "generateCredentials returned no value for " .. c.slot)
  end
  ctx.ledger:generated(c.key, c.slot, p.creation_time)   -- if lost, "intended" still tells
  local secret = secret_of(c, ctx, c.slot, { action = "deliver", username = creds.username or c.name,
    password = p.value, expiry = p.expiry, creation_time = p.creation_time })
  local ok, serr = ctx.sink:deliver(secret)
  if not ok then
    return fail("SinkFailed", ("%s of token '%s' was generated, but the sink did not take it (%s): "
      .. "the other password stays, and the next run generates %s again"):format(c.slot, c.name,
      tostring(serr), c.slot))
  end
  noted, lerr = ctx.ledger:delivered(c.key, c.slot, p.creation_time)
  if not noted then
    return fail("LedgerFailed", ("%s of token '%s' was delivered, but the ledger could not record it (%s): "
      .. "the next run generates it again"):format(c.slot, c.name, tostring(lerr)))
  end
  if ctx.show_secrets then c.secret = secret end
  return true
end

BODIES["retire token"] = function(c, ctx)
  if c.withdraw then
    if not ctx.sink then
      return fail("NoSink", "retiring a password the sink holds needs that sink: nothing was removed")
    end
    local ok, err = withdraw(c, ctx, c.slot)
    if not ok then return false, err end
  end
  local cl = client_of(c)
  -- as az does: the token is PATCHed with the passwords it keeps
  local body = '{"properties":{"credentials":{"passwords":[' .. json.encode({ name = c.keep }) .. ']}}}'
  local res, err = await(function()
    return cl:begin_request("PATCH", cl:registry_id() .. "/tokens/" .. c.name, { body = body,
      lro = true, headers = { ["Content-Type"] = "application/json" } })
  end)
  if not res then return false, err end
  ctx.ledger:forget(c.key, c.slot)
  return true
end

-- syntax: f = steps.body(change, ctx)  -- the coroutine body of a change
function _M.body(c, ctx)
  local f = BODIES[c.action .. " " .. c.kind]
  return function() return f(c, ctx) end
end

_M.where = where

return _M
