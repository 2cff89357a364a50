-- acr.jmespath.interpreter: a syntax tree to a Lua function of the current node.
--
-- compile(tree) turns each node into a closure once, so a compiled expression is
-- searched without walking the tree again. A closure returns the node's value, nil
-- or values.null for JSON null; run-time failures (a function given the wrong
-- type) raise an acr.jmespath.error. Unknown functions and wrong argument counts
-- are found here, when compiling.

local values = require "acr.jmespath.values"
local functions = require "acr.jmespath.functions"
local raise = require("acr.jmespath.error").raise

local null, kind, truthy = values.null, values.kind, values.truthy
local is_array, is_object = values.is_array, values.is_object
local new_array, new_object = values.array, values.object

local _M = {}

local compile

local function identity(v) return v end

local function is_null(v) return v == nil or v == null end

local C = {}   -- node type -> function(node) returning the node's closure

function C.current() return identity end

function C.literal(n)
  local value = n.value
  return function() return value end
end

function C.field(n)
  local name = n.name
  return function(v)
    if type(v) == "table" then return rawget(v, name) end
    return nil
  end
end

function C.subexpr(n)
  local left, right = compile(n.left), compile(n.right)
  return function(v) return right(left(v)) end
end
C.pipe = C.subexpr

function C.index(n)
  local left, index = compile(n.left), n.index
  return function(v)
    local base = left(v)
    if not is_array(base) then return null end
    local i = index
    if i < 0 then i = #base + i end
    if i < 0 or i >= #base then return null end
    return base[i + 1]
  end
end

-- Python's slice bounds on a list of len elements (0-based; stop excluded).
local function bound(x, len, step, default_pos, default_neg)
  if x == nil then return step < 0 and default_neg or default_pos end
  if x < 0 then
    x = x + len
    if x < 0 then x = step < 0 and -1 or 0 end
  elseif x >= len then
    x = step < 0 and len - 1 or len
  end
  return x
end

function C.slice(n)
  local left, start, stop, step = compile(n.left), n.start, n.stop, n.step or 1
  return function(v)
    local base = left(v)
    if not is_array(base) then return null end
    local len = #base
    local first = bound(start, len, step, 0, len - 1)
    local last = bound(stop, len, step, len, -1)
    local out, k = new_array(), 0
    if step > 0 then
      for i = first, last - 1, step do
        k = k + 1
        out[k] = base[i + 1]
      end
    else
      for i = first, last + 1, step do
        k = k + 1
        out[k] = base[i + 1]
      end
    end
    return out
  end
end

-- Collects right(x) for each x that gives a value (nulls are dropped).
local function project(list, right)
  local out, k = new_array(), 0
  for i = 1, #list do
    local x = right(list[i])
    if not is_null(x) then
      k = k + 1
      out[k] = x
    end
  end
  return out
end

function C.projection(n)
  local left, right = compile(n.left), compile(n.right)
  return function(v)
    local base = left(v)
    if not is_array(base) then return null end
    return project(base, right)
  end
end

function C.value_projection(n)
  local left, right = compile(n.left), compile(n.right)
  return function(v)
    local base = left(v)
    if not is_object(base) then return null end
    local vals = {}
    for i, k in ipairs(values.keys(base)) do vals[i] = rawget(base, k) end
    return project(vals, right)
  end
end

function C.flatten(n)
  local left = compile(n.left)
  return function(v)
    local base = left(v)
    if not is_array(base) then return null end
    local out, k = new_array(), 0
    for i = 1, #base do
      local e = base[i]
      if is_array(e) then
        for j = 1, #e do
          k = k + 1
          out[k] = e[j]
        end
      else
        k = k + 1
        out[k] = e
      end
    end
    return out
  end
end

function C.filter(n)
  local left, cond, right = compile(n.left), compile(n.cond), compile(n.right)
  return function(v)
    local base = left(v)
    if not is_array(base) then return null end
    local out, k = new_array(), 0
    for i = 1, #base do
      local e = base[i]
      if truthy(cond(e)) then
        local x = right(e)
        if not is_null(x) then
          k = k + 1
          out[k] = x
        end
      end
    end
    return out
  end
end

function C.multi_list(n)
  local items = {}
  for i, item in ipairs(n.items) do items[i] = compile(item) end
  return function(v)
    if is_null(v) then return null end
    local out = new_array()
    for i = 1, #items do
      local x = items[i](v)
      if x == nil then x = null end
      out[i] = x
    end
    return out
  end
end

function C.multi_hash(n)
  -- a key given twice keeps its first place and its last value
  local keys, items, slot = {}, {}, {}
  for i, k in ipairs(n.keys) do
    if not slot[k] then
      keys[#keys + 1] = k
      slot[k] = #keys
    end
    items[slot[k]] = compile(n.items[i])
  end
  return function(v)
    if is_null(v) then return null end
    local out = {}
    for i = 1, #keys do
      local x = items[i](v)
      if x == nil then x = null end
      out[keys[i]] = x
    end
    return new_object(out, keys)
  end
end

C["or"] = function(n)
  local left, right = compile(n.left), compile(n.right)
  return function(v)
    local l = left(v)
    if truthy(l) then return l end
    return right(v)
  end
end

C["and"] = function(n)
  local left, right = compile(n.left), compile(n.right)
  return function(v)
    local l = left(v)
    if not truthy(l) then return l end
    return right(v)
  end
end

C["not"] = function(n)
  local expr = compile(n.expr)
  return function(v) return not truthy(expr(v)) end
end

local ORDER = {
  ["<"] = function(a, b) return a < b end, ["<="] = function(a, b) return a <= b end,
  [">"] = function(a, b) return a > b end, [">="] = function(a, b) return a >= b end,
}

function C.compare(n)
  local left, right, op = compile(n.left), compile(n.right), n.op
  if op == "==" then
    return function(v) return values.equal(left(v), right(v)) end
  elseif op == "!=" then
    return function(v) return not values.equal(left(v), right(v)) end
  end
  local cmp = ORDER[op]
  -- ordering is defined for numbers only; anything else compares to null
  return function(v)
    local a, b = left(v), right(v)
    if type(a) == "number" and type(b) == "number" then return cmp(a, b) end
    return null
  end
end

function C.expref()
  return function()
    raise("invalid-type", "an expression reference (&...) can only be a function argument")
  end
end

function C.call(n)
  local name = n.name
  local entry = functions.get(name)
  if not entry then raise("unknown-function", "unknown function " .. name .. "()", n.pos) end
  local count, want = #n.args, #entry.params
  if count < want or (count > want and not entry.variadic) then
    raise("invalid-arity", string.format("%s() takes %s%d argument%s, got %d", name,
      entry.variadic and "at least " or "", want, want == 1 and "" or "s", count), n.pos)
  end
  local args = {}
  for i, a in ipairs(n.args) do
    if a.type == "expref" then
      local ref = setmetatable({ fn = compile(a.expr) }, functions.EXPREF)
      args[i] = function() return ref end
    else
      args[i] = compile(a)
    end
  end
  local fn, check = entry.fn, functions.check
  return function(v)
    local vals = {}
    for i = 1, count do
      local x = args[i](v)
      if x == nil then x = null end
      vals[i] = x
    end
    check(name, entry, vals)
    return fn(vals)
  end
end

function compile(n)
  return C[n.type](n)
end

-- syntax: fn = interpreter.compile(tree) — fn(data) gives the result (nil or
-- values.null for null); raises unknown-function and invalid-arity errors
function _M.compile(tree)
  return compile(tree)
end

_M.kind = kind

return _M
