-- The emulator's clock, for tests of what happens as time passes (a password that
-- comes to expire within rotate_before, a grace time that runs out) without waiting.
-- POST /__admin/clock {"advance": s} ages every time the emulator holds by s seconds:
-- the client, reading them with its own clock, sees them that much older, as if s
-- seconds had passed. Times made later come from the real clock, as before; the
-- offset is the sum of the advances since reset, which sets it back to 0.

local state = require "acr.emulator.state"
local util = require "acr.emulator.util"
local time = require "acr.time"

local _M = { _VERSION = "0.1.0" }

-- About a century: keeps every aged time within what os.date can write.
_M.MAX_ADVANCE = 100 * 365 * 86400

-- syntax: seconds = clock.offset()
function _M.offset()
  return state.clock_offset or 0
end

-- An ISO time made s seconds older (in ARM's form); anything else as it was.
local function aged(iso, s)
  local t = type(iso) == "string" and time.epoch(iso)
  if not t then return iso end
  return util.iso_time(t - s)
end

local function age_token(tok, s)
  tok.creation_date = aged(tok.creation_date, s)
  for _, p in pairs(tok.passwords) do
    p.creation_time = aged(p.creation_time, s)
    p.expiry = aged(p.expiry, s)
  end
  for _, c in pairs(tok.certificates) do c.expiry = aged(c.expiry, s) end
end

-- syntax: clock.advance(seconds)   seconds >= 0, checked by the caller
-- Registries, scope maps and tokens (creation dates), passwords (creation time and
-- expiry) and certificates (expiry) of every registry.
function _M.advance(s)
  for _, reg in pairs(state.registries) do
    reg.creation_date = aged(reg.creation_date, s)
    for _, map in pairs(reg.scopeMaps) do map.creation_date = aged(map.creation_date, s) end
    for _, tok in pairs(reg.tokens) do age_token(tok, s) end
  end
  state.clock_offset = _M.offset() + s
end

return _M
