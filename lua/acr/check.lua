-- acr.check: the checks of arguments and options for the module's Lua parts (acr.batch,
-- acr.resty), the twin of the C core's (src/luax.h). Every misuse raises one shape, as
-- lauxlib's luaL_argerror gives it:
--
--   bad argument #N to 'fn' (message)
--   bad argument #N to 'fn' (option 'key' message)     -- an option of table argument #N
--
-- fn is the public name, given explicitly (never read from debug information, which
-- names nothing under pcall); N counts self, as in client.create_token(client, name, props).
-- Each function takes level: where the public function is, counted from the caller of the
-- check (1: the public function called the check itself). The error points at the caller
-- of the public function, as error(msg, 2) does.
local _M = { _VERSION = "0.1.0" }

local function type_of(v)
  local mt = getmetatable(v)
  local name = type(mt) == "table" and rawget(mt, "__name")
  return type(name) == "string" and name or type(v)
end
_M.type_of = type_of

-- syntax: check.argerror(fname, n, message, level?)
function _M.argerror(fname, n, message, level)
  error(("bad argument #%d to '%s' (%s)"):format(n, fname, message), (level or 1) + 2)
end

-- syntax: check.typeerror(fname, n, expected, value, level?)
function _M.typeerror(fname, n, expected, v, level)
  _M.argerror(fname, n, expected .. " expected, got " .. type_of(v), (level or 1) + 1)
end

-- syntax: check.opterror(fname, n, key, message, level?)
function _M.opterror(fname, n, key, message, level)
  _M.argerror(fname, n, "option '" .. tostring(key) .. "' " .. message, (level or 1) + 1)
end

-- syntax: opts = check.options(fname, n, opts, allowed, level?)
-- opts: a table or nil (then an empty table is returned). allowed maps each option's
-- name to the type its value must have ("number", "function", …), or to true for any.
function _M.options(fname, n, opts, allowed, level)
  level = (level or 1) + 1
  if opts == nil then return {} end
  if type(opts) ~= "table" then _M.typeerror(fname, n, "table of options", opts, level) end
  for k, v in pairs(opts) do
    local want = type(k) == "string" and allowed[k]
    if not want then _M.argerror(fname, n, "unknown option '" .. tostring(k) .. "'", level) end
    if want ~= true and type(v) ~= want then
      _M.opterror(fname, n, k, "must be a " .. want .. ", got " .. type_of(v), level)
    end
  end
  return opts
end

-- syntax: check.whole(fname, n, opts, key, min, max, level?)
-- opts[key] of table argument n, when it is given, a whole number from min to max.
function _M.whole(fname, n, opts, key, min, max, level)
  local v = opts[key]
  if v ~= nil and (v ~= math.floor(v) or v < min or v > max) then
    _M.opterror(fname, n, key, ("must be a whole number from %d to %d"):format(min, max), (level or 1) + 1)
  end
end

local GUID = "^%x%x%x%x%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%-%x%x%x%x%x%x%x%x%x%x%x%x$"

-- syntax: bool = check.is_guid(s)  -- a subscription id as ARM makes them
function _M.is_guid(s)
  return type(s) == "string" and s:find(GUID) ~= nil
end

return _M
