-- acr.json — the project's one JSON writer (the CLI, the emulator, acr.jmespath and
-- the examples use it).
--
--   local json = require "acr.json"
--   json.encode(v)                          -- compact
--   json.encode(v, { indent = 2, sort = true, array_keys = { actions = true } })
--
-- What Debian's lua-cjson cannot do: "/" is written as it is (ARM ids stay readable),
-- an empty array can be told from an empty object, and an object can keep its key
-- order (ARM's, so that bodies read like the recordings). Values:
--   null     json.null (cjson.null when lua-cjson is there), or nil inside a table
--   array    a table marked by json.array(), or by lua-cjson's array_mt, or any
--            table with __jsontype = "array" in its metatable (acr.jmespath's,
--            dkjson's), or an unmarked table with a value at [1]
--   object   a table marked by json.object(t, keys) (keys: its key order), or with
--            __jsontype = "object", or any other table; an unmarked empty table is
--            {} unless its key is in opts.array_keys
-- Keys of an object without a recorded order are written sorted, by byte.

local has_cjson, cjson = pcall(require, "cjson")

local _M = { _VERSION = "0.1.0" }

_M.null = has_cjson and cjson.null or setmetatable({}, { __name = "acr.json.null",
  __tostring = function() return "null" end })
local null = _M.null

local ARRAY = { __jsontype = "array", __name = "acr.json.array" }
local OBJECT = { __jsontype = "object", __name = "acr.json.object" }
_M.ARRAY, _M.OBJECT = ARRAY, OBJECT
local CJSON_ARRAY = has_cjson and rawget(cjson, "array_mt") or ARRAY
local CJSON_EMPTY_ARRAY = has_cjson and rawget(cjson, "empty_array_mt") or ARRAY

-- The key order of the objects json.object() marked (weak: it goes with its object);
-- acr.jmespath records the order of the objects it makes here too.
local order = setmetatable({}, { __mode = "k" })
_M.order = order

-- syntax: a = json.array(t?)  -- marks t (or a new table) as an array
function _M.array(t)
  return setmetatable(t or {}, ARRAY)
end

-- syntax: o = json.object(t?, keys?)  -- marks t as an object; keys (kept, not
-- copied): the order of its keys
function _M.object(t, keys)
  t = setmetatable(t or {}, OBJECT)
  if keys then order[t] = keys end
  return t
end

local setlocale = os.setlocale

-- Byte order (code point order for UTF-8), whatever the C locale says. Lua compares
-- strings with strcoll, which is byte order in the C locale (a program's, unless it
-- sets another): then that, many times faster than a loop over the bytes.
local function bytes_lt(a, b)
  local c = setlocale(nil, "collate")
  if c == "C" or c == "POSIX" then return a < b end
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = a:byte(i), b:byte(i)
    if x ~= y then return x < y end
  end
  return #a < #b
end

-- syntax: bool = json.bytes_lt(a, b)  -- the order keys are sorted in (acr.jmespath's too)
_M.bytes_lt = bytes_lt

local function sorted_keys(obj)
  local list = {}
  for k in pairs(obj) do
    local tk = type(k)
    if tk == "string" then list[#list + 1] = k
    elseif tk == "number" then list[#list + 1] = tostring(k) end
  end
  table.sort(list, bytes_lt)
  return list
end
_M.sorted_keys = sorted_keys

-- syntax: list = json.keys(obj)  -- in the recorded order while it still holds, else sorted
function _M.keys(obj)
  local known = order[obj]
  if known then
    local list = {}
    for i = 1, #known do
      if rawget(obj, known[i]) ~= nil then list[#list + 1] = known[i] end
    end
    local n = 0
    for k in pairs(obj) do if type(k) == "string" then n = n + 1 end end
    if n == #list then return list end
  end
  return sorted_keys(obj)
end

-- syntax: k = json.kind(v)  -- "null", "boolean", "number", "string", "array",
-- "object", or "empty" (an unmarked empty table); nil for what JSON cannot hold
function _M.kind(v)
  local t = type(v)
  if t == "string" or t == "number" or t == "boolean" then return t end
  if v == nil or v == null then return "null" end
  if t ~= "table" then return nil end
  local mt = getmetatable(v)
  if mt ~= nil then
    if mt == ARRAY or mt == CJSON_ARRAY or mt == CJSON_EMPTY_ARRAY then return "array" end
    if mt == OBJECT then return "object" end
    local jt = type(mt) == "table" and rawget(mt, "__jsontype")
    if jt == "array" or jt == "object" then return jt end
  end
  if rawget(v, 1) ~= nil then return "array" end
  if next(v) == nil then return "empty" end
  return "object"
end
local default_kind = _M.kind

---------------------------------------------------------------------------
-- writing
---------------------------------------------------------------------------

-- The shortest of %.15g..%.17g that reads back as the same number.
function _M.number(v)
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return ("%d"):format(v) end
  for p = 15, 17 do
    local s = ("%." .. p .. "g"):format(v)
    if tonumber(s) == v then return s end
  end
  return ("%.17g"):format(v)
end

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function escape(c) return ESCAPES[c] or ("\\u%04x"):format(c:byte()) end

-- syntax: s = json.quote(str, c1?)  -- a JSON string; c1: also \u-escape U+0080..U+009F
function _M.quote(s, c1)
  s = s:gsub('[%c"\\]', escape)
  if c1 then
    s = s:gsub("\194([\128-\159])", function(b) return ("\\u%04x"):format(b:byte()) end)
  end
  return '"' .. s .. '"'
end
local quote = _M.quote

local encode

local function encode_array(v, o, out, depth, nl, inner)
  local n = #v
  if n == 0 then out[#out + 1] = "[]"; return end
  out[#out + 1] = "["
  for i = 1, n do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = inner
    encode(v[i], o, out, depth + 1, nil)
  end
  out[#out + 1] = nl
  out[#out + 1] = "]"
end

local function encode_object(v, o, out, depth, nl, inner)
  local keys = o.sort and sorted_keys(v) or o.keys(v)
  if #keys == 0 then out[#out + 1] = "{}"; return end
  out[#out + 1] = "{"
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = inner
    out[#out + 1] = quote(k, o.c1)
    out[#out + 1] = o.colon
    local val = rawget(v, k)
    if val == nil then val = rawget(v, tonumber(k) or k) end
    encode(val, o, out, depth + 1, k)
  end
  out[#out + 1] = nl
  out[#out + 1] = "}"
end

function encode(v, o, out, depth, key)
  local k = o.kind(v)
  if k == "string" then out[#out + 1] = quote(v, o.c1)
  elseif k == "number" then out[#out + 1] = _M.number(v)
  elseif k == "boolean" then out[#out + 1] = v and "true" or "false"
  elseif k == "null" then out[#out + 1] = "null"
  elseif k == "empty" then
    out[#out + 1] = (o.array_keys[key] or (depth == 0 and o.empty_array)) and "[]" or "{}"
  elseif k == "array" or k == "object" then
    if depth >= o.max_depth then o.too_deep(o.max_depth) end
    local nl, inner = "", ""
    if o.indent then
      nl = "\n" .. o.indent:rep(depth)
      inner = nl .. o.indent
    end
    if k == "array" then encode_array(v, o, out, depth, nl, inner)
    else encode_object(v, o, out, depth, nl, inner) end
  else
    error("cannot encode a " .. type(v) .. " as JSON", 0)
  end
end

local NO_KEYS = {}

local function too_deep(n)
  error("cannot encode data nested more than " .. n .. " levels deep", 0)
end

-- syntax: s = json.encode(v, opts?)
--   opts.indent: spaces per level (a newline before each member, as Python's
--     json.dumps(indent=N) writes it: ", " inside lines never, ": " after keys);
--     nil: compact
--   opts.sort: every object's keys sorted, recorded order or not
--   opts.array_keys: set of keys under which an unmarked empty table is []
--   opts.empty_array: an unmarked empty table at the top is []
--   opts.c1: also escape U+0080..U+009F (C1 controls), for terminals
--   opts.kind, opts.keys: how values are told apart and an object's keys listed
--     (default json.kind, json.keys)
--   opts.max_depth (1000), opts.too_deep(n): raises past it (default: an error string)
-- Raises on a value JSON cannot hold (a function, a userdata other than null).
function _M.encode(v, opts)
  opts = opts or NO_KEYS
  local o = {
    indent = opts.indent and (" "):rep(opts.indent) or nil,
    colon = opts.indent and ": " or ":",
    sort = opts.sort, c1 = opts.c1, array_keys = opts.array_keys or NO_KEYS,
    kind = opts.kind or default_kind, keys = opts.keys or _M.keys,
    max_depth = opts.max_depth or 1000, too_deep = opts.too_deep or too_deep,
    empty_array = opts.empty_array,
  }
  local out = {}
  encode(v, o, out, 0, nil)
  return table.concat(out)
end

return _M
