-- acr.jmespath.values: how JSON values look in Lua, for the engine and its callers.
--
--   null    cjson.null (a lightuserdata); a Lua nil (an absent key) reads as null too.
--   array   a table marked with ARRAY (metatable {__jsontype = "array"}), or
--           lua-cjson's array_mt where that build has one, or an unmarked table with a
--           value at [1] (what lua-cjson decodes a non-empty JSON array to).
--   object  a table marked with OBJECT ({__jsontype = "object"}), or an unmarked
--           table with no [1]. __jsontype is dkjson's convention, so its values work too.
--   empty   an unmarked empty table is what lua-cjson 2.1.0 (Debian's) decodes both
--           [] and {} to: it is taken as an array, but it is accepted wherever an
--           object is (keys(), values(), merge(), the * projection) and equals both.
--
-- Every array and object the engine makes is marked, so an empty one is printed as
-- what it is. The keys of the objects it makes (and of those decode() reads) keep
-- their order; keys() gives it, or sorted keys for an object of unknown order.

local _M = {}

-- Null, arrays and objects are acr.json's (the same marks, the same record of key
-- order, weak: it goes with its object), so that its writer and its callers see them
-- as they are.
local json = require "acr.json"
_M.null = json.null
local null = _M.null
local ARRAY, OBJECT = json.ARRAY, json.OBJECT
_M.ARRAY, _M.OBJECT = ARRAY, OBJECT
local order = json.order

local MAX_DEPTH = 1000   -- data nesting that equal() and encode() follow (cycles stop here)
_M.MAX_DEPTH = MAX_DEPTH

local raise = require("acr.jmespath.error").raise

---------------------------------------------------------------------------
-- kinds
---------------------------------------------------------------------------

-- syntax: k = values.kind(v) — "null", "boolean", "number", "string", "array",
-- "object"; anything that is not JSON (a function, a foreign userdata) is "null".
-- acr.json's kinds, an unmarked empty table taken as an array.
local function kind(v)
  local k = json.kind(v)
  if k == "empty" then return "array" end
  return k or "null"
end
_M.kind = kind

-- An unmarked empty table: [] or {}, nobody can tell.
local function is_ambiguous(v)
  return type(v) == "table" and next(v) == nil and getmetatable(v) == nil
end

function _M.is_array(v)
  return type(v) == "table" and kind(v) == "array"
end

function _M.is_object(v)
  if type(v) ~= "table" then return false end
  return kind(v) == "object" or is_ambiguous(v)
end

function _M.is_null(v)
  return v == nil or v == null or kind(v) == "null"
end

-- JMESPath truth: false, null, "", [] and {} are false; everything else is true.
function _M.truthy(v)
  if v == nil or v == null or v == false or v == "" then return false end
  local t = type(v)
  if t == "table" then return next(v) ~= nil end
  if t == "number" or t == "string" or t == "boolean" then return true end
  return false
end

---------------------------------------------------------------------------
-- making arrays and objects
---------------------------------------------------------------------------

-- syntax: a = values.array(t?) — marks t (or a new table) as an array (acr.json's)
-- syntax: o = values.object(t?, keys?) — marks t as an object; keys, when given, is
-- the order of its keys (the list is kept, not copied)
_M.array, _M.object = json.array, json.object

-- syntax: list = values.keys(obj) — the object's string keys: in their recorded
-- order when it has one, else sorted (so output is the same from run to run)
function _M.keys(obj)
  local known = order[obj]
  local list = {}
  if known then
    for i = 1, #known do
      if rawget(obj, known[i]) ~= nil then list[#list + 1] = known[i] end
    end
    if #list == #known then return list end
    list = {}   -- the table changed since: fall back to what is there now
  end
  for k in pairs(obj) do
    if type(k) == "string" then list[#list + 1] = k end
  end
  table.sort(list, _M.string_less())
  return list
end

---------------------------------------------------------------------------
-- strings: by code point, whatever the C locale says
---------------------------------------------------------------------------

-- UTF-8 byte order is code point order; Lua's < follows strcoll(), which agrees
-- with it only in the C locale.
local bytes_lt = json.bytes_lt

local function locale_is_c()
  local l = os.setlocale(nil, "collate")
  return l == nil or l == "C" or l == "POSIX"
end

-- syntax: lt = values.str_lt(a, b)
function _M.str_lt(a, b)
  if locale_is_c() then return a < b end
  return bytes_lt(a, b)
end

-- syntax: f = values.string_less() — the fastest correct comparison right now
function _M.string_less()
  if locale_is_c() then return function(a, b) return a < b end end
  return bytes_lt
end

-- Code points in s (an invalid byte counts as one).
function _M.utf8_len(s)
  local n = 0
  for _ in s:gmatch("[^\128-\191][\128-\191]*") do n = n + 1 end
  -- continuation bytes with no lead byte before them
  local lead = s:match("^[\128-\191]*")
  return n + #lead
end

function _M.utf8_reverse(s)
  local parts = {}
  local lead = s:match("^[\128-\191]*")
  for i = 1, #lead do parts[#parts + 1] = lead:sub(i, i) end
  for ch in s:gmatch("[^\128-\191][\128-\191]*") do parts[#parts + 1] = ch end
  local out = {}
  for i = #parts, 1, -1 do out[#out + 1] = parts[i] end
  return table.concat(out)
end

---------------------------------------------------------------------------
-- equality
---------------------------------------------------------------------------

local function equal(a, b, depth)
  if a == nil then a = null end
  if b == nil then b = null end
  local ka, kb = kind(a), kind(b)
  if ka ~= kb then
    if type(a) == "table" and type(b) == "table" then
      return (is_ambiguous(a) and next(b) == nil) or (is_ambiguous(b) and next(a) == nil)
    end
    return false
  end
  if ka == "null" then return true end
  if ka ~= "array" and ka ~= "object" then return a == b end
  if rawequal(a, b) then return true end
  if depth > MAX_DEPTH then
    raise("invalid-value", "data nested more than " .. MAX_DEPTH .. " levels deep")
  end
  if ka == "array" then
    if #a ~= #b then return false end
    for i = 1, #a do
      if not equal(a[i], b[i], depth + 1) then return false end
    end
    return true
  end
  local n = 0
  for k, v in pairs(a) do
    if type(k) == "string" then
      n = n + 1
      local w = rawget(b, k)
      if w == nil or not equal(v, w, depth + 1) then return false end
    end
  end
  for k in pairs(b) do
    if type(k) == "string" then n = n - 1 end
  end
  return n == 0
end

-- syntax: same = values.equal(a, b) — JSON equality (1 == 1.0, key order ignored)
function _M.equal(a, b)
  return equal(a, b, 0)
end

---------------------------------------------------------------------------
-- JSON text
---------------------------------------------------------------------------

-- Writing is acr.json's (the project's one writer), told how this module's values
-- are kinds and keys.

-- syntax: s = values.format_number(v) — the shortest of %.15g..%.17g that reads back
_M.format_number = json.number

_M.quote = function(s) return json.quote(s) end

local function too_deep()
  raise("invalid-value", "data nested more than " .. MAX_DEPTH .. " levels deep")
end

-- syntax: s = values.encode(v) — compact JSON ("/" and non-ASCII as they are);
-- raises an invalid-value error past MAX_DEPTH (or on a cycle)
function _M.encode(v)
  return json.encode(v, { kind = kind, keys = _M.keys, max_depth = MAX_DEPTH + 1,
                          too_deep = too_deep })
end

-- Decoding: a small recursive-descent JSON reader that marks what it makes.
-- It raises nothing: it returns nil, message, position.

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then
    return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40)
  end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 0x1000), 0x80 + math.floor(cp / 0x40) % 0x40,
                       0x80 + cp % 0x40)
  end
  return string.char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
                     0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local SIMPLE = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
                 r = "\r", t = "\t" }

local Failure = {}   -- raised inside the reader only, caught by decode()

local function fail(msg, pos)
  error(setmetatable({ msg = msg, pos = pos }, Failure), 0)
end

-- A JSON string starting at s[i] == '"'; returns the string and the index after it.
local function read_string(s, i)
  local parts = {}
  local j = i + 1
  while true do
    local a = s:find('["\\\1-\31]', j)
    if not a then fail("unterminated string", i) end
    parts[#parts + 1] = s:sub(j, a - 1)
    local c = s:sub(a, a)
    if c == '"' then return table.concat(parts), a + 1 end
    if c ~= "\\" then fail("control character in a string", a) end
    local e = s:sub(a + 1, a + 1)
    if SIMPLE[e] then
      parts[#parts + 1] = SIMPLE[e]
      j = a + 2
    elseif e == "u" then
      local hex = s:match("^%x%x%x%x", a + 2)
      if not hex then fail("bad \\u escape", a) end
      local cp = tonumber(hex, 16)
      j = a + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local low = s:match("^\\u(%x%x%x%x)", j)
        local lo = low and tonumber(low, 16)
        if lo and lo >= 0xDC00 and lo <= 0xDFFF then
          cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
          j = j + 6
        end
      end
      parts[#parts + 1] = utf8_char(cp)
    else
      fail("bad escape in a string", a)
    end
  end
end
_M.read_string = function(s, i)
  local ok, v, nexti = pcall(read_string, s, i)
  if ok then return v, nexti end
  if getmetatable(v) ~= Failure then error(v, 0) end
  return nil, v.msg, v.pos
end

local read_value

local function skip(s, i)
  return s:find("[^ \t\n\r]", i) or #s + 1
end

local function read_array(s, i, depth)
  local arr = setmetatable({}, ARRAY)
  i = skip(s, i + 1)
  if s:sub(i, i) == "]" then return arr, i + 1 end
  while true do
    local v
    v, i = read_value(s, i, depth + 1)
    arr[#arr + 1] = v
    i = skip(s, i)
    local c = s:sub(i, i)
    if c == "]" then return arr, i + 1 end
    if c ~= "," then fail("',' or ']' expected", i) end
    i = skip(s, i + 1)
  end
end

local function read_object(s, i, depth)
  local obj, keys = setmetatable({}, OBJECT), {}
  order[obj] = keys
  i = skip(s, i + 1)
  if s:sub(i, i) == "}" then return obj, i + 1 end
  while true do
    if s:sub(i, i) ~= '"' then fail("a string key expected", i) end
    local k
    k, i = read_string(s, i)
    i = skip(s, i)
    if s:sub(i, i) ~= ":" then fail("':' expected", i) end
    local v
    v, i = read_value(s, skip(s, i + 1), depth + 1)
    if rawget(obj, k) == nil then keys[#keys + 1] = k end
    obj[k] = v
    i = skip(s, i)
    local c = s:sub(i, i)
    if c == "}" then return obj, i + 1 end
    if c ~= "," then fail("',' or '}' expected", i) end
    i = skip(s, i + 1)
  end
end

-- A JSON number at s[i]: its value and the index after it, or nil.
local function read_number(s, i)
  local j = i
  if s:sub(j, j) == "-" then j = j + 1 end
  local int = s:match("^%d+", j)
  if not int or (#int > 1 and int:sub(1, 1) == "0") then return nil end
  j = j + #int
  local frac = s:match("^%.%d+", j)
  if frac then j = j + #frac end
  local exp = s:match("^[eE][-+]?%d+", j)
  if exp then j = j + #exp end
  local v = tonumber(s:sub(i, j - 1))
  -- Lua 5.4 reads a large whole number as an integer, which would wrap around in
  -- sum(); JSON numbers past 2^53 are not exact anyway
  if math.type and math.type(v) == "integer" and (v >= 2 ^ 53 or v <= -2 ^ 53) then
    v = v + 0.0
  end
  return v, j
end

-- syntax: n = values.parse_number(s) — s as a whole is a JSON number, else nil
function _M.parse_number(s)
  local v, after = read_number(s, 1)
  if v and after == #s + 1 then return v end
  return nil
end

local WORDS = { t = { "true", true }, f = { "false", false }, n = { "null", null } }

function read_value(s, i, depth)
  if depth > MAX_DEPTH then fail("JSON nested too deeply", i) end
  local c = s:sub(i, i)
  if c == "{" then return read_object(s, i, depth) end
  if c == "[" then return read_array(s, i, depth) end
  if c == '"' then return read_string(s, i) end
  local word = WORDS[c]
  if word then
    if s:sub(i, i + #word[1] - 1) == word[1] then return word[2], i + #word[1] end
    fail("invalid JSON value", i)
  end
  local v, after = read_number(s, i)
  if v then return v, after end
  fail("invalid JSON value", i)
end

-- syntax: v, err, pos = values.decode(s) — one JSON document (whitespace around it
-- allowed); arrays and objects marked, object keys in document order
function _M.decode(s)
  local ok, v, i = pcall(function()
    local v, i = read_value(s, skip(s, 1), 0)
    i = skip(s, i)
    if i <= #s then fail("trailing characters after the JSON value", i) end
    return v, i
  end)
  if ok then return v end
  if getmetatable(v) ~= Failure then error(v, 0) end
  return nil, v.msg, v.pos
end

return _M
