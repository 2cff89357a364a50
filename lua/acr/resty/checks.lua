-- acr.resty.checks: what the driver's entry points check before they send anything:
-- the argument's type, the nginx phase, the driver options, and a credential that
-- would block the worker.

local http = require "acr.resty.http"
local check = require "acr.check"
local util = require "acr.resty.util"

local ngx = ngx
local get_phase = ngx.get_phase
local type, pairs, error, tostring, setmetatable, getmetatable, rawget =
  type, pairs, error, tostring, setmetatable, getmetatable, rawget
local type_name = util.type_name

local _M = {}

---------------------------------------------------------------------------
-- options
---------------------------------------------------------------------------

local OPTIONS = {
  timeout = "number", connect_timeout = "number", max_body = "number",
  max_headers = "number", max_header_bytes = "number", keepalive_timeout = "number",
  pool_size = "number", pool = "string", hosts = "table", logger = "function",
  allow_blocking_credential = "boolean",
}

-- The driver options opts (argument n of fname) over base.
local function merge(fname, n, base, opts, level)
  if opts == nil then return base end
  check.options(fname, n, opts, OPTIONS, level)
  local o = {}
  for k, v in pairs(base) do o[k] = v end
  for k, v in pairs(opts) do
    if OPTIONS[k] == "number" and not (v > 0) then check.opterror(fname, n, k, "must be > 0", level) end
    o[k] = v
  end
  o._merged = true
  return o
end
_M.merge = merge

local DEFAULTS = http.options()
DEFAULTS._merged = true
_M.DEFAULTS = DEFAULTS

---------------------------------------------------------------------------
-- credentials that block
---------------------------------------------------------------------------

-- The C objects keep the Lua values they hold (an operation's or pager's client, a
-- client's credential) in their uservalue.
local get_uservalue = debug.getfenv or debug.getuservalue

local function uv_field(obj, k)
  local ok, t = pcall(get_uservalue, obj)
  if ok and type(t) == "table" then return rawget(t, k) end
end

local may_block_cache = setmetatable({}, { __mode = "k" })

-- Whether getting a token may run a program (the Azure CLI, alone or as a member of
-- a default() chain): the C core says so through cred:may_block() where it has it.
local function may_block(cred)
  local known = may_block_cache[cred]
  if known ~= nil then return known end
  local mt = getmetatable(cred)
  local index = type(mt) == "table" and rawget(mt, "__index")
  local f = type(index) == "table" and index.may_block
  local r = false
  if type(f) == "function" then r = f(cred) and true or false end
  may_block_cache[cred] = r
  return r
end

-- x: an acr.Client, acr.Operation or acr.Pager
local function check_credential(fname, x, o, level)
  if o.allow_blocking_credential then return end
  local client = type_name(x) == "acr.Client" and x or uv_field(x, "client")
  local cred = client and uv_field(client, "credential")
  if cred and may_block(cred) then
    check.argerror(fname, 1, "the client's credential (" .. tostring(cred) .. ") may run the"
          .. " Azure CLI, which blocks the whole nginx worker while it runs; use another credential"
          .. " (e.g. acr.credential.default{exclude_azure_cli = true}), or pass the driver"
          .. " option allow_blocking_credential = true (see docs/RESTY.md)", level)
  end
end
_M.check_credential = check_credential

---------------------------------------------------------------------------
-- the phase, the arguments
---------------------------------------------------------------------------

-- The phases where cosockets and ngx.sleep work.
local YIELDING = { rewrite = true, access = true, content = true, timer = true,
                   ssl_cert = true, ssl_session_fetch = true, ssl_client_hello = true }

local function check_phase(level)
  local phase = get_phase()
  if not YIELDING[phase] then
    error("acr.resty: cosockets cannot be used in the " .. phase .. " phase (use the blocking"
          .. " client there, or ngx.timer.at(0, …); see docs/RESTY.md)", level + 1)
  end
end
_M.check_phase = check_phase

-- A check of an entry point's first argument: check_arg(fname, x, level).
local function checker(want)
  return function(fname, x, level)
    if type_name(x) ~= want then check.typeerror(fname, 1, want, x, level) end
  end
end

_M.check_op = checker("acr.Operation")
_M.check_pager = checker("acr.Pager")

local function check_max(fname, max, argn, level)
  if max ~= nil and (type(max) ~= "number" or not (max >= 0)) then
    check.argerror(fname, argn, "a number of seconds >= 0 expected, got " .. check.type_of(max), level)
  end
end
_M.check_max = check_max

-- What every r.* entry point checks, in this order: its first argument (check is
-- check_op or check_pager), the phase, r.wait's max_seconds (when timed), the
-- options and the client's credential. Returns the merged options.
local function enter(fname, check_arg, x, opts, timed, max)
  check_arg(fname, x, 3)
  check_phase(3)
  if timed then check_max(fname, max, 2, 3) end
  local o = merge(fname, timed and 3 or 2, DEFAULTS, opts, 3)
  check_credential(fname, x, o, 3)
  return o
end
_M.enter = enter

return _M
