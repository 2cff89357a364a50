-- Registry logins with token passwords (what a registry checks at login), for tests
-- that a consumer of a sink holds a password that works. The emulator keeps no
-- password values: generateCredentials stores an HMAC of each (under a key of this
-- worker), which a token PATCH that keeps the password carries over and one that
-- drops it, or a new generateCredentials of that slot, replaces.

local crypto = require "acr.emulator.crypto"
local state = require "acr.emulator.state"
local time = require "acr.time"

local _M = { _VERSION = "0.1.0" }

local key   -- made on first use; never leaves the worker

-- syntax: h = login.hash(password)
function _M.hash(password)
  key = key or crypto.random_bytes(32)
  return crypto.hmac_sha256(key, password)
end

-- The one registry of that name (or login server), in that subscription when given.
local function find_registry(name, sub)
  name = name:lower():gsub("%.azurecr%.io$", "")
  local found
  for _, reg in pairs(state.registries) do
    if reg.name:lower() == name and (not sub or reg.sub:lower() == sub:lower()) then
      if found then return nil, "registry '" .. name .. "' is in several subscriptions: give 'subscription'" end
      found = reg
    end
  end
  return found
end

-- syntax: slot, reason, status = login.check(body)
-- slot ("password1" | "password2") when the login works; else nil, why, and 401
-- (a refused login) or 400 (a question that has no one answer).
function _M.check(t)
  local reg, err = find_registry(t.registry, t.subscription)
  if err then return nil, err, 400 end
  if not reg then return nil, "no such registry", 401 end
  local tok = reg.tokens[t.username:lower()]
  if not tok then return nil, "no such token", 401 end
  if tok.status ~= "enabled" then return nil, "the token is disabled", 401 end
  local h = _M.hash(t.password)
  for _, slot in ipairs { "password1", "password2" } do
    local p = tok.passwords[slot]
    if p and p.hash == h then
      local expiry = p.expiry and time.epoch(p.expiry)
      if expiry and expiry <= ngx.now() then return nil, slot .. " has expired", 401 end
      return slot
    end
  end
  return nil, "wrong password", 401
end

return _M
