-- acr.jmespath: JMESPath (https://jmespath.org/specification.html) in pure Lua.
--
--   local jmespath = require "acr.jmespath"
--   local value, err = jmespath.search("value[?enabled].name", data)
--   local expr = assert(jmespath.compile("sort_by(@, &name)[].name"))
--   for _, d in ipairs(docs) do print(expr:search(d)) end
--
-- Values are lua-cjson's: JSON null is cjson.null (jmespath.null), arrays and
-- objects are tables; acr.jmespath.values says how an array is told from an object.
-- A null result is jmespath.null, never nil: nil is returned only with an error.
-- Errors are values {kind=, message=, position=?, expression=} (tostring() gives a
-- line), kind one of "syntax", "invalid-type", "invalid-value", "invalid-arity",
-- "unknown-function". Misuse (an expression that is not a string) raises.
--
-- Results share tables with the data and with the expression's literals: treat them
-- as read-only (or copy them) when the expression is searched again.
--
-- Parts: lexer.lua (tokens), parser.lua (syntax tree), interpreter.lua (tree to
-- closures), functions.lua (the built-ins), values.lua (JSON values in Lua).

local values = require "acr.jmespath.values"
local parser = require "acr.jmespath.parser"
local interpreter = require "acr.jmespath.interpreter"
local errors = require "acr.jmespath.error"

local _M = { _VERSION = "0.1.0" }

_M.null = values.null
_M.MAX_DEPTH = parser.MAX_DEPTH

local function argcheck(fname, i, v, want)
  if type(v) ~= want then
    error(string.format("bad argument #%d to '%s' (%s expected, got %s)", i, fname, want,
      type(v)), 3)
  end
end

-- Runs f(...) and returns its result, or nil and the JMESPath error it raised (with
-- the expression it came from); any other error is re-raised.
local function catch(expression, f, ...)
  local ok, v = pcall(f, ...)
  if ok then return v end
  if errors.is(v) then
    v.expression = expression
    return nil, v
  end
  error(v, 0)
end

local Expression = {}
Expression.__index = Expression
Expression.__name = "acr.jmespath.Expression"

function Expression:__tostring()
  return "jmespath expression: " .. self.expression
end

local function run(fn, data)
  local v = fn(data)
  if v == nil or values.kind(v) == "null" then return values.null end
  return v
end

-- syntax: value, err = expr:search(data)
function Expression:search(data)
  if getmetatable(self) ~= Expression then
    error(string.format("bad argument #1 to 'search' (jmespath expression expected, got %s)",
      type(self)), 2)
  end
  return catch(self.expression, run, self.fn, data)
end

local function build(expression)
  local tree = parser.parse(expression)
  return setmetatable({ expression = expression, fn = interpreter.compile(tree) }, Expression)
end

-- A few hundred compiled expressions, dropped all at once when full: a query is
-- usually run many times, and a compiled one is never changed.
local CACHE_SIZE = 256
local cache, cached = {}, 0

local function compile(expression)
  local c = cache[expression]
  if c then return c end
  local expr, err = catch(expression, build, expression)
  if not expr then return nil, err end
  if cached >= CACHE_SIZE then
    cache, cached = {}, 0
  end
  cache[expression] = expr
  cached = cached + 1
  return expr
end

-- syntax: expr, err = jmespath.compile(expression)
function _M.compile(expression)
  argcheck("compile", 1, expression, "string")
  return compile(expression)
end

-- syntax: value, err = jmespath.search(expression, data)
function _M.search(expression, data)
  argcheck("search", 1, expression, "string")
  local expr, err = compile(expression)
  if not expr then return nil, err end
  return expr:search(data)
end

-- syntax: ok = jmespath.is_error(v)
_M.is_error = errors.is

-- syntax: t = jmespath.array(t?) — marks t (or a new table) as a JSON array
_M.array = values.array

-- syntax: t = jmespath.object(t?, keys?) — marks t as a JSON object; keys is its key order
_M.object = values.object

-- syntax: name = jmespath.type(v) — "null", "boolean", "number", "string", "array" or "object"
_M.type = values.kind

-- syntax: ok = jmespath.is_array(v) — also true for an unmarked empty table
_M.is_array = values.is_array

-- syntax: ok = jmespath.is_object(v) — also true for an unmarked empty table
_M.is_object = values.is_object

-- syntax: list = jmespath.keys(obj) — in the order the object was made in, else sorted
_M.keys = values.keys

-- syntax: s = jmespath.encode(v) — compact JSON, as to_string() writes it
function _M.encode(v)
  local s, err = catch(nil, values.encode, v)
  if s == nil then return nil, err end
  return s
end

-- syntax: v, err = jmespath.decode(s) — JSON text to marked, ordered values
function _M.decode(s)
  argcheck("decode", 1, s, "string")
  local v, msg, pos = values.decode(s)
  if v == nil then return nil, errors.new("invalid-value", "invalid JSON: " .. msg, pos) end
  return v
end

return _M
