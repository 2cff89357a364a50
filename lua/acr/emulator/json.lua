-- JSON for the emulator.
--
-- Decoding goes through a private cjson.safe instance. Encoding is acr.json's (the
-- project's one writer): the Debian build of lua-cjson escapes "/" (ARM ids would
-- read "\/subscriptions\/…") and cannot tell an empty array from an empty object,
-- and we want ARM's key order so bodies read like the recordings.

local cjson = require("cjson.safe").new()

local _M = { _VERSION = "0.1.0" }

_M.null = cjson.null

local writer = require "acr.json"   -- the project's one JSON writer

-- syntax: o = json.object("k1", v1, "k2", v2, ...)
-- A nil value leaves its key out, so optional members need no special casing.
function _M.object(...)
  local keys, vals = {}, {}
  local n = select("#", ...)
  local args = { ... }
  for i = 1, n, 2 do
    local k, v = args[i], args[i + 1]
    if v ~= nil then
      keys[#keys + 1] = k
      vals[k] = v
    end
  end
  return writer.object(vals, keys)
end

-- syntax: a = json.array(t?)
function _M.array(t)
  return writer.array(t)
end

-- syntax: s = json.encode(v)  -- compact; objects made by json.object() in their
-- order, plain maps with sorted keys (so admin output is stable)
function _M.encode(v)
  return writer.encode(v)
end

-- syntax: v, err = json.decode(s)
function _M.decode(s)
  if type(s) ~= "string" then return nil, "no content" end
  return cjson.decode(s)
end

-- True when t decoded from a JSON object (or an empty {} / []: cjson cannot tell).
function _M.is_object(t)
  if type(t) ~= "table" then return false end
  if next(t) == nil then return true end
  for k in pairs(t) do
    if type(k) ~= "string" then return false end
  end
  return true
end

-- True when t decoded from a JSON array (an empty one counts).
function _M.is_array(t)
  if type(t) ~= "table" then return false end
  local n = #t
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

return _M
