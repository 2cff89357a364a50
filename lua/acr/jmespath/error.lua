-- acr.jmespath.error: the error values of the engine.
--
-- Every failure of a JMESPath expression is a table {kind=, message=, position=?,
-- expression=?} whose kind is one the compliance suite names: "syntax",
-- "invalid-type", "invalid-value", "invalid-arity", "unknown-function". Inside the
-- engine it travels with error() (raise); the public functions catch it and return
-- it as a value (nil, err). Any other Lua error is a bug and is not caught.

local _M = {}

local Error = {}
Error.__index = Error

function Error:__tostring()
  local s = self.kind .. " error: " .. self.message
  if self.position then
    s = s .. " (at position " .. self.position .. ")"
  end
  if self.expression then
    s = s .. " in '" .. self.expression .. "'"
  end
  return s
end

_M.Error = Error

-- syntax: err = error.new(kind, message, position?)
function _M.new(kind, message, position)
  return setmetatable({ kind = kind, message = message, position = position }, Error)
end

-- syntax: error.raise(kind, message, position?) — does not return
function _M.raise(kind, message, position)
  error(_M.new(kind, message, position), 0)
end

-- syntax: ok = error.is(v)
function _M.is(v)
  return getmetatable(v) == Error
end

return _M
