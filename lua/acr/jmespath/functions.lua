-- acr.jmespath.functions: the built-in functions of the specification.
--
-- Each entry is {params = {type, ...}, variadic = bool, fn = function(args)}. A
-- parameter type is a name or several joined by '|': any, number, string, boolean,
-- null, array, object, expref, array-number, array-string. With variadic, the last
-- parameter may repeat (at least once). The interpreter checks the count when the
-- expression is compiled and the types at each call; fn gets its arguments as a
-- list with JSON null as values.null and an expression reference as a table
-- {fn = compiled} (EXPREF).

local values = require "acr.jmespath.values"
local err = require "acr.jmespath.error"

local null, kind = values.null, values.kind
local is_array, is_object = values.is_array, values.is_object
local raise = err.raise

local _M = {}

local EXPREF = { __name = "jmespath.expref" }
_M.EXPREF = EXPREF

-- The JMESPath type of a value, as type() and the error messages name it.
local function type_name(v)
  if getmetatable(v) == EXPREF then return "expression" end
  return kind(v)
end
_M.type_name = type_name

local function all_of(v, k)
  for i = 1, #v do
    if kind(v[i]) ~= k then return false end
  end
  return true
end

local CHECK = {
  any = function(v) return getmetatable(v) ~= EXPREF end,
  number = function(v) return type(v) == "number" end,
  string = function(v) return type(v) == "string" end,
  boolean = function(v) return type(v) == "boolean" end,
  null = function(v) return kind(v) == "null" and getmetatable(v) ~= EXPREF end,
  array = function(v) return getmetatable(v) ~= EXPREF and is_array(v) end,
  object = function(v) return getmetatable(v) ~= EXPREF and is_object(v) end,
  expref = function(v) return getmetatable(v) == EXPREF end,
  ["array-number"] = function(v)
    return getmetatable(v) ~= EXPREF and is_array(v) and all_of(v, "number")
  end,
  ["array-string"] = function(v)
    return getmetatable(v) ~= EXPREF and is_array(v) and all_of(v, "string")
  end,
}

local function type_error(name, i, want, v)
  raise("invalid-type", string.format("%s() expects argument %d to be %s, got %s",
    name, i, (want:gsub("|", " or ")), type_name(v)))
end

-- syntax: functions.check(name, entry, args) — raises invalid-type on a mismatch
function _M.check(name, entry, args)
  local params = entry.params
  for i = 1, #args do
    local want = params[i] or params[#params]
    local ok = false
    for alt in want:gmatch("[^|]+") do
      if CHECK[alt](args[i]) then
        ok = true
        break
      end
    end
    if not ok then type_error(name, i, want, args[i]) end
  end
end

---------------------------------------------------------------------------
-- helpers
---------------------------------------------------------------------------

local function new_array(t) return values.array(t) end

-- A stable merge sort of list (not changed) by lt; returns a new list.
local function stable_sort(list, lt)
  local n = #list
  local a, b = {}, {}
  for i = 1, n do a[i] = list[i] end
  local width = 1
  while width < n do
    local i = 1
    while i <= n do
      local mid, hi = math.min(i + width, n + 1), math.min(i + 2 * width, n + 1)
      local l, r, k = i, mid, i
      while l < mid and r < hi do
        if lt(a[r], a[l]) then
          b[k] = a[r]; r = r + 1
        else
          b[k] = a[l]; l = l + 1
        end
        k = k + 1
      end
      while l < mid do b[k] = a[l]; l = l + 1; k = k + 1 end
      while r < hi do b[k] = a[r]; r = r + 1; k = k + 1 end
      i = i + 2 * width
    end
    a, b = b, a
    width = width * 2
  end
  return a
end
_M.stable_sort = stable_sort

local function num_lt(x, y) return x < y end

-- The comparison for a list that is all numbers or all strings.
local function less_for(k)
  if k == "number" then return num_lt end
  return values.string_less()
end

-- The keys an expression reference gives each element: all numbers or all strings.
local function sort_keys(name, list, ref)
  local keys, k0 = {}, nil
  for i = 1, #list do
    local key = ref.fn(list[i])
    local k = kind(key)
    if k ~= "number" and k ~= "string" then
      raise("invalid-type", name .. "() needs the expression to give a number or a string, got "
        .. k)
    end
    k0 = k0 or k
    if k ~= k0 then
      raise("invalid-type", name .. "() needs the expression to give the same type for every "
        .. "element, got " .. k0 .. " and " .. k)
    end
    keys[i] = key
  end
  return keys, k0
end

local function extreme_by(name, list, ref, want_max)
  if #list == 0 then return null end
  local keys, k = sort_keys(name, list, ref)
  local lt = less_for(k)
  local best = 1
  for i = 2, #list do
    if want_max then
      if lt(keys[best], keys[i]) then best = i end
    elseif lt(keys[i], keys[best]) then
      best = i
    end
  end
  return list[best]
end

local function extreme(list, want_max)
  if #list == 0 then return null end
  local lt = less_for(kind(list[1]))
  local best = list[1]
  for i = 2, #list do
    local v = list[i]
    if want_max then
      if lt(best, v) then best = v end
    elseif lt(v, best) then
      best = v
    end
  end
  return best
end

---------------------------------------------------------------------------
-- the functions
---------------------------------------------------------------------------

local F = {}
_M.table = F

local function def(name, params, fn, variadic)
  F[name] = { params = params, fn = fn, variadic = variadic or false }
end

def("abs", { "number" }, function(a) return math.abs(a[1]) end)

def("avg", { "array-number" }, function(a)
  local list = a[1]
  if #list == 0 then return null end
  local s = 0
  for i = 1, #list do s = s + list[i] end
  return s / #list
end)

def("ceil", { "number" }, function(a) return math.ceil(a[1]) end)
def("floor", { "number" }, function(a) return math.floor(a[1]) end)

def("contains", { "array|string", "any" }, function(a)
  local subject, search = a[1], a[2]
  if type(subject) == "string" then
    return type(search) == "string" and subject:find(search, 1, true) ~= nil
  end
  for i = 1, #subject do
    if values.equal(subject[i], search) then return true end
  end
  return false
end)

def("ends_with", { "string", "string" }, function(a)
  local s, suffix = a[1], a[2]
  return #suffix <= #s and s:sub(#s - #suffix + 1) == suffix
end)

def("starts_with", { "string", "string" }, function(a)
  return a[1]:sub(1, #a[2]) == a[2]
end)

def("join", { "string", "array-string" }, function(a)
  return table.concat(a[2], a[1])
end)

def("keys", { "object" }, function(a)
  return new_array(values.keys(a[1]))
end)

def("values", { "object" }, function(a)
  local obj, out = a[1], new_array()
  for i, k in ipairs(values.keys(obj)) do out[i] = rawget(obj, k) end
  return out
end)

def("length", { "string|array|object" }, function(a)
  local v = a[1]
  if type(v) == "string" then return values.utf8_len(v) end
  if is_array(v) then return #v end
  local n = 0
  for k in pairs(v) do
    if type(k) == "string" then n = n + 1 end
  end
  return n
end)

def("map", { "expref", "array" }, function(a)
  local ref, list, out = a[1], a[2], new_array()
  for i = 1, #list do
    local v = ref.fn(list[i])
    if v == nil then v = null end
    out[i] = v
  end
  return out
end)

def("max", { "array-number|array-string" }, function(a) return extreme(a[1], true) end)
def("min", { "array-number|array-string" }, function(a) return extreme(a[1], false) end)

def("max_by", { "array", "expref" }, function(a)
  return extreme_by("max_by", a[1], a[2], true)
end)
def("min_by", { "array", "expref" }, function(a)
  return extreme_by("min_by", a[1], a[2], false)
end)

def("merge", { "object" }, function(a)
  local out, order, seen = {}, {}, {}
  for i = 1, #a do
    local obj = a[i]
    for _, k in ipairs(values.keys(obj)) do
      if not seen[k] then
        seen[k] = true
        order[#order + 1] = k
      end
      out[k] = rawget(obj, k)
    end
  end
  return values.object(out, order)
end, true)

def("not_null", { "any" }, function(a)
  for i = 1, #a do
    if kind(a[i]) ~= "null" then return a[i] end
  end
  return null
end, true)

def("reverse", { "string|array" }, function(a)
  local v = a[1]
  if type(v) == "string" then return values.utf8_reverse(v) end
  local out, n = new_array(), #v
  for i = 1, n do out[i] = v[n + 1 - i] end
  return out
end)

def("sort", { "array-number|array-string" }, function(a)
  local list = a[1]
  if #list == 0 then return new_array() end
  return new_array(stable_sort(list, less_for(kind(list[1]))))
end)

def("sort_by", { "array", "expref" }, function(a)
  local list, ref = a[1], a[2]
  if #list == 0 then return new_array() end
  local keys, k = sort_keys("sort_by", list, ref)
  local lt = less_for(k)
  local idx = {}
  for i = 1, #list do idx[i] = i end
  idx = stable_sort(idx, function(x, y) return lt(keys[x], keys[y]) end)
  local out = new_array()
  for i = 1, #idx do out[i] = list[idx[i]] end
  return out
end)

def("sum", { "array-number" }, function(a)
  local s = 0
  for i = 1, #a[1] do s = s + a[1][i] end
  return s
end)

def("to_array", { "any" }, function(a)
  if is_array(a[1]) then return a[1] end
  return new_array { a[1] }
end)

def("to_string", { "any" }, function(a)
  if type(a[1]) == "string" then return a[1] end
  return values.encode(a[1])
end)

def("to_number", { "any" }, function(a)
  local v = a[1]
  if type(v) == "number" then return v end
  if type(v) == "string" then return values.parse_number(v) or null end
  return null
end)

def("type", { "any" }, function(a) return kind(a[1]) end)

-- syntax: entry = functions.get(name)
function _M.get(name)
  return F[name]
end

return _M
