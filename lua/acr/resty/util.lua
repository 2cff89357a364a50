-- acr.resty.util: what the driver's parts all use to tell the C core's objects apart
-- and to make errors of the C core's kind.

require "acr"   -- registers acr.Error's metatable, read below

local type, getmetatable, setmetatable, rawget = type, getmetatable, setmetatable, rawget

local _M = {}

-- acr.Error is the C core's error type; errors made here (a wait that runs out)
-- carry the same metatable so acr.is_error() and tostring() treat them alike.
local ERROR_MT = debug.getregistry()["acr.Error"]

local function new_error(code, message)
  return setmetatable({ code = code, message = message, retryable = false }, ERROR_MT)
end
_M.new_error = new_error

-- The __name of v's metatable ("acr.Client", "acr.Token", …), or nil.
local function type_name(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__name") or nil
end
_M.type_name = type_name

return _M
