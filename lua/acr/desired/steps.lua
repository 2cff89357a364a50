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
local rotation = require "acr.desired.rotation"
local sink = require "acr.desired.sink"
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
-- Calls the sink's method: what it returns, or nil and what it raised (a sink of the
-- caller's may raise: that is its failure, as a value).
local function call_sink(ctx, method, arg)
  local called, ok, err = pcall(ctx.sink[method], ctx.sink, arg)
  if not called then return nil, ok end
  return ok, err
end

local function withdraw(c, ctx, slot)
  local rec = ctx.ledger:get(c.key, slot)
  local ok, err = call_sink(ctx, "withdraw", secret_of(c, ctx, slot,
    { action = "withdraw", creation_time = rec and rec.creation_time }))
  if not ok then
    return fail("SinkFailed", ("the sink did not withdraw %s of token '%s': %s"):format(slot, c.name,
      sink.one_line(tostring(err or "it said no"))))
  end
  return true
end

-- The new password of the slot in ARM's answer, checked: its times must be times and
-- its username the token's, since they go to the sink and the ledger.
local function generated_password(c, creds)
  local user = type(creds) == "table" and creds.username
  if type(user) ~= "string" or user:lower() ~= c.name:lower() then
    return nil, "generateCredentials returned the username of another token"
  end
  for _, p in ipairs(type(creds.passwords) == "table" and creds.passwords or {}) do
    if p.name == c.slot then
      if type(p.value) ~= "string" or p.value == "" then break end
      -- a password that never expires may come with a null expiry: none
      local expiry = rotation.expiry_of(p)
      if not time.epoch(p.creation_time) or expiry == nil then
        return nil, "generateCredentials returned a time that is not one"
      end
      return { name = p.name, value = p.value, creation_time = p.creation_time,
               expiry = expiry and p.expiry or nil }
    end
  end
  return nil, "generateCredentials returned no value for " .. c.slot
end

-- An error that says the service did not make the password (it refused the request);
-- after a 5xx or a transport failure it may have, and the intent stays to tell the next run.
local function refused(err)
  return type(err) == "table" and type(err.status) == "number" and err.status >= 400 and err.status < 500
end

local function deliver(c, ctx, creds, p)
  local secret = secret_of(c, ctx, c.slot, { action = "deliver", username = c.name,
    password = p.value, expiry = p.expiry, creation_time = p.creation_time })
  local ok, serr = call_sink(ctx, "deliver", secret)
  if ok == true then return secret end
  -- a sink of the caller's may say more than it should: never the password
  return nil, sink.one_line(sink.redact(tostring(serr or "it said no"), p.value))
end

-- What runs when the batch has a slot for the generation, just before it is sent: the
-- sink gives up the slot's password (its record still says which), then the ledger
-- announces the generation, stamped with the time it goes out (the next run matches the
-- password it finds against that). Either failing sends nothing.
local function before_generate(c, ctx)
  if c.withdraw then
    local ok, err = withdraw(c, ctx, c.slot)
    if not ok then return nil, err end
  end
  local noted, lerr = ctx.ledger:intend(c.key, c.slot, ctx.now or os.time())
  if not noted then
    return nil, acr.error("LedgerFailed", "the ledger could not be written: " .. tostring(lerr))
  end
  return true
end

BODIES["rotate token"] = function(c, ctx)
  if not ctx.sink then
    return fail("NoSink", "a rotation needs a sink for the new password (secrets_dir, secrets_exec "
      .. "or a function): nothing was generated")
  end
  local cl = client_of(c)
  local sent = false
  local creds, err = await(function()
    local ready, rerr = before_generate(c, ctx)
    if not ready then return nil, rerr end
    sent = true
    local now = ctx.now or os.time()
    return cl:begin_generate_credentials { token = c.name, name = c.slot,
                                           expiry = c.lifetime and time.iso(now + c.lifetime) or nil }
  end)
  if not creds then
    if sent and refused(err) then ctx.ledger:forget(c.key, c.slot) end
    return false, err
  end
  local p, perr = generated_password(c, creds)
  if not p then return fail("InvalidResponse", perr) end
  ctx.ledger:generated(c.key, c.slot, p.creation_time)   -- if lost, "intended" still tells
  local secret, serr = deliver(c, ctx, creds, p)
  if not secret then
    return fail("SinkFailed", ("%s of token '%s' was generated, but the sink did not take it (%s): "
      .. "the other password stays, and the next run generates %s again"):format(c.slot, c.name,
      serr, c.slot))
  end
  local noted, lerr = ctx.ledger:delivered(c.key, c.slot, p.creation_time)
  if not noted then
    return fail("LedgerFailed", ("%s of token '%s' was delivered, but the ledger could not record it (%s): "
      .. "the next run withdraws it and generates it again"):format(c.slot, c.name, tostring(lerr)))
  end
  if ctx.show_secrets then c.secret = secret end
  return true
end

-- The body that keeps the passwords of tok but `slot`, as listed (name and expiry):
-- what az's `token credential delete` sends.
local function kept_body(tok, slot)
  local kept = {}
  for _, p in ipairs((tok.credentials or {}).passwords or {}) do
    if p.name ~= slot and (p.name == "password1" or p.name == "password2") then
      kept[#kept + 1] = json.encode({ name = p.name, expiry = type(p.expiry) == "string" and p.expiry or nil,
        creationTime = type(p.creation_time) == "string" and p.creation_time or nil }, { sort = true })
    end
  end
  return '{"properties":{"credentials":{"passwords":[' .. table.concat(kept, ",") .. ']}}}'
end

local function kept_password(tok, name)
  for _, p in ipairs((tok.credentials or {}).passwords or {}) do
    if p.name == name then return p end
  end
end

local function still_has(res, slot)
  local props = type(res) == "table" and type(res.body) == "table" and res.body.properties
  local creds = type(props) == "table" and props.credentials
  for _, p in ipairs(type(creds) == "table" and type(creds.passwords) == "table" and creds.passwords or {}) do
    if type(p) == "table" and p.name == slot then return true end
  end
  return false
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
  -- the token as it is now (a rotation of this run may have just changed it)
  local tok, gerr = await(function() return cl:prepare("get_token", c.name) end)
  if not tok then return false, gerr end
  -- the password it keeps must still be the one the plan saw delivered
  local kept = kept_password(tok, c.keep)
  local rec = ctx.ledger:get(c.key, c.keep)
  local same = rec and rec.state == "delivered" and time.epoch(rec.creation_time) and time.epoch(kept and kept.creation_time)
    and math.abs(time.epoch(rec.creation_time) - time.epoch(kept.creation_time)) < 1
  if not kept or (rec and rec.state == "delivered" and not same) then
    return fail("Conflict", ("token '%s' no longer has the %s that %s was retired beside: nothing removed")
      :format(c.name, c.keep, c.slot))
  end
  local res, err = await(function()
    return cl:begin_request("PATCH", cl:registry_id() .. "/tokens/" .. c.name, { body = kept_body(tok, c.slot),
      lro = true, headers = { ["Content-Type"] = "application/json" } })
  end)
  if not res then return false, err end
  if still_has(res, c.slot) then
    return fail("InvalidResponse", ("the token '%s' still has %s after the PATCH that removes it"):format(c.name, c.slot))
  end
  local ok, lerr = ctx.ledger:forget(c.key, c.slot)
  if not ok then return fail("LedgerFailed", "the ledger could not be written: " .. tostring(lerr)) end
  return true
end

-- syntax: f = steps.body(change, ctx)  -- the coroutine body of a change
function _M.body(c, ctx)
  local f = BODIES[c.action .. " " .. c.kind]
  return function() return f(c, ctx) end
end

_M.where = where

return _M
