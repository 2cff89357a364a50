-- acr.cli.fail — how the command line fails: exit statuses, usage errors (raised
-- up to main as tables), the module's misuse turned into usage, and the report of
-- an acr.Error on stderr.

local acr = require "acr"

local _M = {}

_M.EXIT_OK, _M.EXIT_SERVICE, _M.EXIT_USAGE, _M.EXIT_AUTH = 0, 1, 2, 3

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
  return (tostring(s):gsub("%c", " "):gsub("\194[\128-\159]", " "))
end
local printable = _M.printable

-- Getting a token failed, however (a refusal, or a token endpoint out of reach): exit 3.
local function is_auth_error(err)
  return err.during == "token" or err.code == "AuthenticationFailed" or err.status == 401
    or err.status == 403
end

local REPORTED = { { "status", "Status" }, { "target", "Target" }, { "request_id", "Request id" },
  { "correlation_id", "Correlation id" }, { "client_request_id", "Client request id" } }

-- syntax: code = fail.report(err)  -- an acr.Error on stderr; returns 1 or 3
function _M.report(err)
  local lines = { ("ERROR: (%s) %s"):format(printable(err.code), printable(err.message)) }
  lines[#lines + 1] = "Code: " .. printable(err.code)
  for _, f in ipairs(REPORTED) do
    if err[f[1]] then lines[#lines + 1] = f[2] .. ": " .. printable(err[f[1]]) end
  end
  io.stderr:write(table.concat(lines, "\n"), "\n")
  return is_auth_error(err) and _M.EXIT_AUTH or _M.EXIT_SERVICE
end

return _M
