-- acr.cli.fail — how the command line fails: exit statuses, usage errors (raised
-- up to main as tables), the module's misuse turned into usage, and the report of
-- an acr.Error on stderr.

local acr = require "acr"
local text = require "acr.text"

local _M = {}

-- As az: 0 success, 1 an error (the service, authentication, the transport), 2 usage,
-- 3 the resource was not found (az's ResourceNotFoundError).
_M.EXIT_OK, _M.EXIT_SERVICE, _M.EXIT_USAGE, _M.EXIT_NOT_FOUND = 0, 1, 2, 3

-- A usage error travels as a table through error() up to main().
local UsageError = {}
UsageError.__index = UsageError

-- syntax: bool = fail.is_usage(e)
function _M.is_usage(e)
  return getmetatable(e) == UsageError
end

-- syntax: fail.usage(msg, cmd)  -- raises; exit 2 with the command's help
function _M.usage(msg, cmd)
  error(setmetatable({ message = msg, cmd = cmd }, UsageError), 0)
end

-- A failure that is not an acr.Error (a precondition the CLI checks itself): exit 1.
-- mark: what kind it is, as fields ({ not_found = true }: a resource that does not exist).
function _M.failure(msg, mark)
  local e = { message = msg, cli = true }
  for k, v in pairs(mark or {}) do e[k] = v end
  error(setmetatable(e, UsageError), 0)
end

-- The output could not be delivered (said by main): exit 1.
function _M.lost()
  error(setmetatable({ lost = true }, UsageError), 0)
end

-- The module raises on misuse ("bad argument #2 to '?' (token name 'x' must be …)"):
-- keep the part in brackets, which names the problem.
local function misuse_message(e)
  local s = tostring(e)
  local inner = s:match("^bad argument #%d+ to '[^']*' %((.*)%)$")
  return inner or s:gsub("^[^:]*:%d+: ", "")
end

-- Calls an acr function (they return at most value, err); a raised Lua error
-- (misuse) becomes a usage error.
function _M.guarded(f, ...)
  local ok, a, b = pcall(f, ...)
  if not ok then
    if getmetatable(a) == UsageError or acr.is_error(a) then error(a, 0) end
    _M.usage(misuse_message(a))
  end
  return a, b
end

-- Raises err when a call returned nil, err; else returns its value.
function _M.on(v, e)
  if v == nil and e ~= nil then error(e, 0) end
  return v
end

-- The service's words reach a terminal: control characters (C0, DEL, C1 as UTF-8)
-- become spaces, so no escape sequence in a message can act on the terminal.
function _M.printable(s)
  return text.printable(s, " ")
end
local printable = _M.printable

local NOT_FOUND_CODES = { ResourceNotFound = true, TokenNotFound = true, ScopeMapNotFound = true }

-- syntax: bool = fail.is_not_found(err)  -- ARM's 404 for the scope map, token or
-- registry (never one of the token endpoint's: getting a token is authentication)
function _M.is_not_found(err)
  if not acr.is_error(err) or err.during == "token" then return false end
  return err.status == 404 or NOT_FOUND_CODES[err.code] == true
end

local REPORTED = { { "status", "Status" }, { "target", "Target" }, { "request_id", "Request id" },
  { "correlation_id", "Correlation id" }, { "client_request_id", "Client request id" } }

-- syntax: code = fail.report(err)  -- an acr.Error on stderr; returns 3 (not found) or 1
function _M.report(err)
  local lines = { ("ERROR: (%s) %s"):format(printable(err.code), printable(err.message)) }
  lines[#lines + 1] = "Code: " .. printable(err.code)
  for _, f in ipairs(REPORTED) do
    if err[f[1]] then lines[#lines + 1] = f[2] .. ": " .. printable(err[f[1]]) end
  end
  io.stderr:write(table.concat(lines, "\n"), "\n")
  return _M.is_not_found(err) and _M.EXIT_NOT_FOUND or _M.EXIT_SERVICE
end

return _M
