-- acr.time — the times and durations of ARM documents and desired-state files, in
-- whole or fractional seconds since the epoch (UTC), with no local-time conversion
-- (os.time reads a table as local time; ARM's times are UTC).
--
--   local time = require "acr.time"
--   time.epoch("2027-01-01T00:00:00.1234567+00:00")  --> 1798761600.1234567
--   time.iso(1798761600)                            --> "2027-01-01T00:00:00Z"
--   time.duration("30d"), time.duration("P1DT12H")   --> 2592000, 129600
--   time.span(129600)                               --> "1d12h"

local _M = {}

-- Days from 1970-01-01 to a civil date (proleptic Gregorian), valid for any year.
local function days_from_civil(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local doy = math.floor((153 * (m + (m > 2 and -3 or 9)) + 2) / 5) + d - 1
  local doe = yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy
  return era * 146097 + doe - 719468
end

local MONTH_DAYS = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }

-- syntax: t = time.epoch(s)  -- seconds since the epoch of an RFC 3339 time, or nil
-- "2027-01-01T00:00:00Z", "…T00:00:00.1234567+00:00", "… 00:00:00-05:30"; a time
-- without an offset is taken as UTC (ARM writes some that way).
function _M.epoch(s)
  if type(s) ~= "string" or #s > 64 then return nil end
  local y, m, d, H, M, S, frac, rest =
    s:match("^(%d%d%d%d)-(%d%d)-(%d%d)[Tt ](%d%d):(%d%d):(%d%d)(%.?%d*)(.*)$")
  if not y then return nil end
  y, m, d, H, M, S = tonumber(y), tonumber(m), tonumber(d), tonumber(H), tonumber(M), tonumber(S)
  if m < 1 or m > 12 or d < 1 or d > MONTH_DAYS[m] or H > 23 or M > 59 or S > 60 then
    return nil
  end
  if frac == "." then return nil end
  local t = days_from_civil(y, m, d) * 86400 + H * 3600 + M * 60 + S
  if frac ~= "" then t = t + tonumber("0" .. frac) end
  if rest == "Z" or rest == "z" or rest == "" then return t end
  local sign, oh, om = rest:match("^([+-])(%d%d):?(%d%d)$")
  if not sign then return nil end
  local off = tonumber(oh) * 3600 + tonumber(om) * 60
  return sign == "+" and t - off or t + off
end

-- syntax: s = time.iso(t)  -- "2027-01-01T00:00:00Z" (whole seconds, UTC)
function _M.iso(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", math.floor(t))
end

local UNIT = { w = 604800, d = 86400, h = 3600, m = 60, s = 1 }
local ISO_DATE = { W = 604800, D = 86400 }
local ISO_TIME = { H = 3600, M = 60, S = 1 }

-- "30d", "1d12h", "90m", "45s", "2w": one or more number-and-unit parts, largest first
local function short_form(s)
  local total, last, pos = 0, math.huge, 1
  while pos <= #s do
    local n, unit, after = s:match("^(%d+)([wdhms])()", pos)
    if not n then return nil end
    local size = UNIT[unit]
    if size >= last then return nil end   -- "1h1d", "1d1d"
    total, last, pos = total + tonumber(n) * size, size, after
  end
  return total
end

-- "P30D", "PT12H", "P1DT2H30M", "P2W", "PT0.5S": ISO 8601 without years or months,
-- whose length in seconds depends on the calendar
local function iso_form(s)
  local date, clock = s:match("^P([^T]*)T?(.*)$")
  if not date or (s:find("T", 1, true) and clock == "") then return nil end
  local total = 0
  local function parts(text, units)
    local last, pos = math.huge, 1
    while pos <= #text do
      local n, unit, after = text:match("^(%d+%.?%d*)(%a)()", pos)
      local size = n and units[unit]
      if not size or size >= last then return false end
      total, last, pos = total + tonumber(n) * size, size, after
    end
    return true
  end
  if not parts(date, ISO_DATE) or not parts(clock, ISO_TIME) then return nil end
  return total
end

-- syntax: seconds, err = time.duration(s)
-- "30d", "12h", "1d12h", "90m", "45s", "2w" or ISO 8601 "P30D", "PT12H", "P1DT12H";
-- years and months are refused (their length depends on the calendar: say days).
-- err is a sentence for the caller to prefix with where the value came from.
function _M.duration(s)
  if type(s) ~= "string" or s == "" or #s > 64 then
    return nil, "must be a duration such as 30d, 12h or P30D"
  end
  local v
  if s:sub(1, 1) == "P" then
    if s:match("^P[^T]*[YM]") then
      return nil, "'" .. s .. "': years and months have no fixed length; give days (P30D)"
    end
    v = s ~= "P" and iso_form(s)
  else
    v = short_form(s)
  end
  if not v then
    return nil, "'" .. s .. "' is not a duration (such as 30d, 12h, 1d12h or P30D)"
  end
  return v
end

-- syntax: s = time.span(seconds)  -- "30d", "1d12h", "45s", "0s": for messages
function _M.span(seconds)
  seconds = math.floor(seconds + 0.5)
  if seconds <= 0 then return "0s" end
  local out = {}
  for _, u in ipairs { { "d", 86400 }, { "h", 3600 }, { "m", 60 }, { "s", 1 } } do
    local n = math.floor(seconds / u[2])
    if n > 0 then out[#out + 1] = string.format("%d%s", n, u[1]) end
    seconds = seconds % u[2]
  end
  return table.concat(out)
end

return _M
