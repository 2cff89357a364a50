-- Helpers for the client specs: a client bound to a running emulator.
local helpers = require "helpers"
local acr = require "acr"
local assert = require "luassert"   -- busted's assert, which a required module does not see

local M = {}

M.SUB = "00000000-0000-0000-0000-000000000001"
M.RG = "rg-emulator"
M.REG = "emuregistry"

-- syntax: client = M.client(em, overrides?)
-- Fast polling (poll_interval 0) unless overridden; TLS via the emulator's CA.
function M.client(em, overrides)
  local o = {
    subscription_id = M.SUB, resource_group = M.RG, registry = M.REG,
    credential = acr.credential.static(em:token()),
    endpoint = em.url, poll_interval = 0, ca_file = em.ca_file,
    retry = { max_retries = 3, base_delay = 0.01, max_delay = 60 },
  }
  for k, v in pairs(overrides or {}) do
    if v == false then o[k] = nil else o[k] = v end
  end
  return acr.client(o)
end

-- syntax: opts = M.options(overrides?)
-- Valid acr.client options for checks that send nothing (a static token, an endpoint
-- no one listens on); an override of false removes that option.
function M.options(over)
  local o = { subscription_id = "sub", resource_group = "rg", registry = "myregistry",
              credential = acr.credential.static("tok"), endpoint = "http://127.0.0.1:9" }
  for k, v in pairs(over or {}) do
    if v == false then o[k] = nil else o[k] = v end
  end
  return o
end

-- syntax: M.raises(pattern, f, ...)   f(...) raises an error whose text matches pattern
function M.raises(pattern, f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "expected an error matching " .. pattern)
  assert.matches(pattern, tostring(err))
end

-- syntax: name = M.unique(prefix)  -- a fresh valid resource name
local n = 0
function M.unique(prefix)
  n = n + 1
  return ("%s-%d-%d"):format(prefix or "res", os.time() % 100000, n)
end

-- syntax: count = M.count_requests(em, key)  -- from the emulator's stats
function M.count_requests(em, key)
  local s = em:stats()
  return (s.requests or {})[key] or 0
end

M.helpers = helpers
return M
