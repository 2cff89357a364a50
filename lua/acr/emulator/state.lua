-- Settings and in-memory state of one emulator. nginx runs a single worker, so a
-- module table is the whole database; /__admin/reset rebuilds it.

local json = require "acr.emulator.json"
local util = require "acr.emulator.util"
local crypto = require "acr.emulator.crypto"
local throttle = require "acr.emulator.throttle"
local registry = require "acr.emulator.registry"

local _M = { _VERSION = "0.1.0" }

_M.DEFAULT_CLIENT_ID = "00000000-0000-0000-0000-0000000000c1"
_M.DEFAULT_CLIENT_SECRET = "emulator-secret"
_M.DEFAULT_IDENTITY_HEADER = "emulator-identity-header"
_M.DEFAULT_MI_CLIENT_ID = "00000000-0000-0000-0000-0000000000a1"
_M.DEFAULT_TENANT_ID = "00000000-0000-0000-0000-0000000000e1"

local LRO_STYLES = { realistic = true, async = true, location = true, body = true }

-- name -> checker(value) returning the normalised value or nil, message
local function int_at_least(min)
  return function(v)
    if type(v) ~= "number" or v ~= math.floor(v) or v < min then
      return nil, "must be an integer >= " .. min
    end
    return v
  end
end

local function number_between(min, max)
  return function(v)
    if type(v) ~= "number" or v ~= v or v < min or (max and v > max) then
      return nil, "must be a number in [" .. min .. ", " .. (max or "inf") .. "]"
    end
    return v
  end
end

local SETTINGS = {
  polls = int_at_least(0),
  retry_after = int_at_least(0),
  lro_style = function(v)
    if not LRO_STYLES[v] then return nil, "must be realistic, async, location or body" end
    return v
  end,
  page_size = int_at_least(1),
  latency_ms = number_between(0, 600000),
  token_latency_ms = number_between(0, 600000),
  token_lifetime = int_at_least(1),
  fail_rate = number_between(0, 1),
  seed = int_at_least(0),
  seed_data = int_at_least(0),
  throttle = throttle.check,
}

_M.settings = {
  polls = 1, retry_after = 1, lro_style = "realistic", page_size = 100,
  latency_ms = 0, token_latency_ms = 0, token_lifetime = 3600, fail_rate = 0, seed = 1, seed_data = 0,
  throttle = false,
}

-- syntax: ok, err = state.apply_settings(tbl)
-- All-or-nothing: one bad key or value changes nothing.
function _M.apply_settings(t)
  if not json.is_object(t) then return nil, "settings must be a JSON object" end
  local new = {}
  for k, v in pairs(t) do
    local check = SETTINGS[k]
    if not check then return nil, "unknown setting '" .. tostring(k) .. "'" end
    local val, err = check(v)
    if val == nil then return nil, "setting '" .. k .. "' " .. err end
    new[k] = val
  end
  for k, v in pairs(new) do _M.settings[k] = v end
  if new.seed then _M.prng = util.prng(new.seed) end
  -- new bucket sizes start full, as a reset would leave them
  if new.throttle ~= nil then throttle.configure(new.throttle) end
  return true
end

-- The signing secret outlives /__admin/reset so tokens a test already holds keep working.
_M.secret = nil

-- The registries the settings file names ({sub, rg, name} each): they exist from the
-- start and come back, empty, with every reset.
_M.seeded = {}

-- The subscriptions' display names the settings file gives ("subscription_names":
-- {ID: NAME}): GET /subscriptions lists them, and they come back with every reset.
_M.seeded_names = {}

-- syntax: ok, err = state.check_subscription_name(sub, name)
function _M.check_subscription_name(sub, name)
  if type(sub) ~= "string" or sub == "" or sub:find("[/%s%%?#]") then
    return nil, "a subscription must be a non-empty string without '/', '%', '?', '#' or spaces"
  end
  if type(name) ~= "string" or name == "" or name:find("%c") then
    return nil, "a subscription's display name must be a non-empty string without control characters"
  end
  return true
end

-- syntax: state.name_subscription(sub, name)   its display name in GET /subscriptions
function _M.name_subscription(sub, name)
  _M.subscription_names[sub:lower()] = { sub = sub, name = name }
end

-- syntax: reg = state.add_registry(sub, rg, name, seeded?)   an existing one is kept as it is
function _M.add_registry(sub, rg, name, seeded)
  local key = registry.key(sub, rg, name)
  local reg = _M.registries[key]
  if reg then return reg, false end
  reg = registry.new(sub, rg, name, _M.settings.seed_data, _M.started)
  reg.seeded = seeded or false
  _M.registries[key] = reg
  return reg, true
end

function _M.reset()
  _M.registries = {}      -- lower("sub/rg/reg") -> registry
  for _, r in ipairs(_M.seeded) do _M.add_registry(r[1], r[2], r[3], true) end
  _M.subscription_names = {}   -- lower(sub) -> { sub, name }
  for _, n in ipairs(_M.seeded_names) do _M.name_subscription(n[1], n[2]) end
  _M.ops = {}             -- operation id -> operation
  _M.fail_next = {}       -- lower(resource name) -> { code, message, status }
  _M.injections = {}      -- raw answers for matching requests (see /__admin/inject)
  _M.clients = {
    [_M.DEFAULT_CLIENT_ID] = { secret = _M.DEFAULT_CLIENT_SECRET, certs = {} },
  }
  _M.identity_header = _M.DEFAULT_IDENTITY_HEADER
  _M.mi_client_id = _M.DEFAULT_MI_CLIENT_ID
  _M.stats = { requests = {}, total = 0, connections = 0 }
  _M.seen_connections = {}
  _M.log = {}
  _M.issued = {}          -- bearer tokens issued since reset, oldest first (see remember_issued)
  _M.seq = 0
  _M.clock_offset = 0     -- seconds every stored time was aged by (see clock.lua)
  throttle.reset()
  _M.prng = util.prng(_M.settings.seed)
end

-- syntax: state.remember_issued(token)
-- The last 100 bearer tokens issued, so a test can know a token a client fetched
-- without the client handing it over (e.g. to look for copies left in its memory).
local MAX_ISSUED = 100
function _M.remember_issued(token)
  local t = _M.issued
  t[#t + 1] = token
  if #t > MAX_ISSUED then table.remove(t, 1) end
end

-- syntax: state.init(settings_path)   context: init_by_lua (errors stop nginx from starting)
function _M.init(path)
  local f = path and io.open(path, "r")
  if f then
    local text = f:read("*a")
    f:close()
    local t, err = json.decode(text)
    if not t then error("bad settings file " .. path .. ": " .. tostring(err)) end
    _M.config = t     -- keeps the non-setting keys (watch_pid, …)
    local only = {}
    for k, v in pairs(t) do
      if SETTINGS[k] then only[k] = v end
    end
    local ok, aerr = _M.apply_settings(only)
    if not ok then error("bad settings file " .. path .. ": " .. aerr) end
    local regs = t.registries or {}
    if type(regs) ~= "table" then error("bad settings file " .. path .. ": 'registries' must be a list") end
    for _, spec in ipairs(regs) do
      local sub, rg, name = registry.parse(spec)
      if not sub then error("bad settings file " .. path .. ": " .. rg) end
      _M.seeded[#_M.seeded + 1] = { sub, rg, name }
    end
    local names = t.subscription_names or {}
    if type(names) ~= "table" then error("bad settings file " .. path .. ": 'subscription_names' must be an object") end
    for sub, name in pairs(names) do
      local ok, nerr = _M.check_subscription_name(sub, name)
      if not ok then error("bad settings file " .. path .. ": " .. nerr) end
      _M.seeded_names[#_M.seeded_names + 1] = { sub, name }
    end
  else
    _M.config = {}
  end
end

-- Runs in the (single) worker, so the secret is not shared with the master.
function _M.init_worker()
  _M.secret = crypto.random_bytes(32)
  _M.started = ngx.now()
  _M.reset()
end

return _M
