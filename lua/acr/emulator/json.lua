-- JSON for the emulator.
--
-- Decoding goes through a private cjson.safe instance. Encoding is our own: the
-- Debian build of lua-cjson escapes "/" (ARM ids would read "\/subscriptions\/…")
-- and cannot tell an empty array from an empty object, and we want ARM's key
-- order so bodies read like the recordings.

local cjson = require("cjson.safe").new()

local _M = { _VERSION = "0.1.0" }

_M.null = cjson.null

local ORDERED = {}   -- metatable of objects that keep their key order
local ARRAY = {}     -- metatable of tables that are always arrays (even empty)

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
  vals[ORDERED] = keys
  return setmetatable(vals, ORDERED)
end

-- syntax: a = json.array(t?)
function _M.array(t)
  return setmetatable(t or {}, ARRAY)
end

local escapes = {
  ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t",
}

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format("\\u%04x", c:byte())
  end) .. '"'
end

local encode

local function encode_number(v)
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if math.floor(v) == v and math.abs(v) < 2 ^ 53 then
    return string.format("%d", v)
  end
  return string.format("%.14g", v)
end

function encode(v, out)
  local t = type(v)
  if t == "string" then
    out[#out + 1] = quote(v)
  elseif t == "number" then
    out[#out + 1] = encode_number(v)
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  elseif v == nil or v == cjson.null then
    out[#out + 1] = "null"
  elseif t == "table" then
    local mt = getmetatable(v)
    if mt == ORDERED then
      out[#out + 1] = "{"
      for i, k in ipairs(rawget(v, ORDERED)) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = quote(k)
        out[#out + 1] = ":"
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    elseif getmetatable(v) == ARRAY or (#v > 0 and _M.is_array(v)) then
      out[#out + 1] = "["
      for i = 1, #v do
        if i > 1 then out[#out + 1] = "," end
        encode(v[i], out)
      end
      out[#out + 1] = "]"
    else
      -- plain maps: sorted keys, so admin output is stable
      local keys = {}
      for k in pairs(v) do keys[#keys + 1] = tostring(k) end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = quote(k)
        out[#out + 1] = ":"
        local val = v[k]
        if val == nil then val = v[tonumber(k)] end
        encode(val, out)
      end
      out[#out + 1] = "}"
    end
  else
    error("cannot encode a " .. t .. " as JSON")
  end
end

-- syntax: s = json.encode(v)
function _M.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
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
