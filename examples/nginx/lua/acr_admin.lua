-- acr_admin: the handlers of examples/nginx/nginx.conf.in.
--
--   GET  /health                 this worker's state; makes no call to Azure
--   GET  /tokens                 the registry's tokens: name, status, scope map, password expiries
--   POST /tokens/{name}/rotate   generates password2 (expiring in ?days=N, default rotate_days)
--                                and returns it, once, in the answer
--   a timer (every expiry_check_interval s, worker 0) disables every enabled token
--   whose passwords have all expired
--
-- Every Azure call runs through acr.resty (cosockets + ngx.sleep): while one request
-- waits for a long-running operation, the worker serves the others. Secrets (the
-- client secret, bearer tokens, generated passwords) never reach a log line; a
-- generated password appears only in the body of the rotate answer.

local acr = require "acr"
local r = require "acr.resty"
local cjson = require("cjson.safe").new()

local ngx = ngx
local log, INFO, WARN, ERR = ngx.log, ngx.INFO, ngx.WARN, ngx.ERR

local _M = { _VERSION = "0.1.0" }

local conf      -- the configuration, read in init (master)
local secret    -- the client secret, until init_worker hands it to the credential
local rc        -- this worker's client, wrapped by acr.resty
local sweeps = { runs = 0, disabled = 0, failures = 0 }

---------------------------------------------------------------------------
-- JSON out: sorted keys, "/" unescaped, empty lists as [] (ARRAY marks them)
---------------------------------------------------------------------------

local ARRAY = {}

local function array(t) return setmetatable(t or {}, ARRAY) end

local function encode(v)
  local tv = type(v)
  if tv ~= "table" then
    if v == nil then return "null" end
    return (cjson.encode(v):gsub("\\/", "/"))
  end
  local out = {}
  if getmetatable(v) == ARRAY or #v > 0 then
    for i = 1, #v do out[i] = encode(v[i]) end
    return "[" .. table.concat(out, ",") .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do out[i] = encode(k) .. ":" .. encode(v[k]) end
  return "{" .. table.concat(out, ",") .. "}"
end

local function send(status, body, headers)
  ngx.status = status
  ngx.header["Content-Type"] = "application/json"
  for k, v in pairs(headers or {}) do ngx.header[k] = v end
  ngx.say(encode(body))
  return ngx.exit(status)
end

local function send_error(status, code, message)
  return send(status, { error = { code = code, message = message } })
end

-- An acr.Error as an answer: the service's 4xx passes through, anything else is 502.
local function send_acr_error(err)
  if not acr.is_error(err) then
    log(ERR, "acr-admin: ", tostring(err))
    return send_error(500, "InternalError", "the handler failed")
  end
  local status = err.status and err.status >= 400 and err.status < 500 and err.status or 502
  return send(status, { error = { code = err.code, message = err.message,
                                  request_id = err.request_id } })
end

---------------------------------------------------------------------------
-- time: RFC 3339 <-> seconds since the epoch, UTC
---------------------------------------------------------------------------

local time = require "acr.time"

-- syntax: t = acr_admin.parse_time("2027-01-01T00:00:00Z")  (nil when it does not parse)
_M.parse_time = time.epoch

local rfc3339 = time.iso

---------------------------------------------------------------------------
-- configuration (init_by_lua, in the master)
---------------------------------------------------------------------------

local REQUIRED = { "endpoint", "subscription_id", "resource_group", "registry", "tenant_id", "client_id" }

local function read_file(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, err end
  local s = f:read("*a")
  f:close()
  return s
end

-- syntax: acr_admin.init(config_path)   context: init_by_lua*
function _M.init(path)
  local text, err = read_file(path)
  if not text then error("acr-admin: cannot read the configuration: " .. err, 0) end
  local c = cjson.decode(text)
  if type(c) ~= "table" then error("acr-admin: " .. path .. " is not a JSON object", 0) end
  for _, k in ipairs(REQUIRED) do
    if type(c[k]) ~= "string" or c[k] == "" then
      error("acr-admin: " .. path .. ": \"" .. k .. "\" is required", 0)
    end
  end
  if c.client_secret ~= nil then
    error("acr-admin: " .. path .. ": put the secret in client_secret_file or AZURE_CLIENT_SECRET,"
          .. " not in the configuration", 0)
  end
  c.timeout = tonumber(c.timeout) or 30
  c.expiry_check_interval = tonumber(c.expiry_check_interval) or 300
  c.rotate_days = tonumber(c.rotate_days) or 30
  c.hosts = type(c.hosts) == "table" and next(c.hosts) and c.hosts or nil
  secret = os.getenv("AZURE_CLIENT_SECRET")
  if (not secret or secret == "") and c.client_secret_file then
    secret = read_file(c.client_secret_file)
    secret = secret and secret:gsub("%s+$", "")
  end
  if not secret or secret == "" then
    error("acr-admin: no client secret (set AZURE_CLIENT_SECRET or \"client_secret_file\")", 0)
  end
  conf = c
end

---------------------------------------------------------------------------
-- the expiry sweep (a timer in worker 0)
---------------------------------------------------------------------------

-- True when the token has passwords and every one of them has expired. A password
-- with no expiry never expires.
local function all_expired(tok, now)
  local creds = tok.credentials
  local pw = creds and creds.passwords
  if not pw or #pw == 0 then return false end
  for _, p in ipairs(pw) do
    local t = _M.parse_time(p.expiry)
    if not t or t > now then return false end
  end
  return true
end

local function sweep_once()
  local now = ngx.time()
  local expired = {}
  for tok in rc:tokens() do
    if tok.status == "enabled" and all_expired(tok, now) then expired[#expired + 1] = tok end
  end
  for _, tok in ipairs(expired) do
    local ok, err = tok:disable()
    if ok then
      sweeps.disabled = sweeps.disabled + 1
      log(WARN, "acr-admin: disabled token ", tok.name, ": all its passwords have expired")
    else
      sweeps.failures = sweeps.failures + 1
      log(ERR, "acr-admin: could not disable token ", tok.name, ": ", tostring(err))
    end
  end
end

local sweeping = false

local function sweep(premature)
  if premature or sweeping then return end   -- a slow run is never overlapped
  sweeping = true
  local ok, err = pcall(sweep_once)
  sweeping = false
  sweeps.runs = sweeps.runs + 1
  sweeps.last_run = ngx.now()
  if not ok then
    sweeps.failures = sweeps.failures + 1
    log(ERR, "acr-admin: expiry sweep failed: ", tostring(err))
  end
end

---------------------------------------------------------------------------
-- per worker
---------------------------------------------------------------------------

local function logger(level, message)
  log(level == "warn" and WARN or INFO, "acr-admin: ", message)
end

-- syntax: acr_admin.init_worker()   context: init_worker_by_lua*
-- Makes this worker's client (no request is made here) and starts the sweep.
function _M.init_worker()
  local client = acr.client {
    subscription_id = conf.subscription_id, resource_group = conf.resource_group,
    registry = conf.registry, endpoint = conf.endpoint, authority_host = conf.authority_host,
    timeout = conf.timeout,
    credential = acr.credential.client_secret {
      tenant_id = conf.tenant_id, client_id = conf.client_id, client_secret = secret,
      authority_host = conf.authority_host,
    },
  }
  secret = nil
  rc = r.wrap(client, { timeout = conf.timeout, hosts = conf.hosts, logger = logger })
  if ngx.worker.id() == 0 then
    local ok, err = ngx.timer.every(conf.expiry_check_interval, sweep)
    if not ok then log(ERR, "acr-admin: cannot start the expiry sweep: ", err) end
  end
end

---------------------------------------------------------------------------
-- handlers
---------------------------------------------------------------------------

local function token_entry(tok, now)
  local passwords = array()
  local creds = tok.credentials
  for _, p in ipairs(creds and creds.passwords or {}) do
    local t = _M.parse_time(p.expiry)
    passwords[#passwords + 1] = { name = p.name, expiry = p.expiry,
                                  creation_time = p.creation_time,
                                  expired = t ~= nil and t <= now }
  end
  return { name = tok.name, status = tok.status, scope_map_id = tok.scope_map_id,
           scope_map = tok.scope_map_id and tok.scope_map_id:match("([^/]+)$"),
           provisioning_state = tok.provisioning_state, passwords = passwords }
end

-- syntax: acr_admin.list_tokens()   context: content_by_lua*
function _M.list_tokens()
  if ngx.req.get_method() ~= "GET" then
    ngx.header["Allow"] = "GET"
    return send_error(405, "MethodNotAllowed", "use GET")
  end
  local now, list = ngx.time(), array()
  local ok, err = pcall(function()
    for tok in rc:tokens() do list[#list + 1] = token_entry(tok, now) end
  end)
  if not ok then return send_acr_error(err) end
  return send(200, { registry = conf.registry, count = #list, tokens = list })
end

-- syntax: acr_admin.rotate(name)   context: content_by_lua*
function _M.rotate(name)
  if ngx.req.get_method() ~= "POST" then
    ngx.header["Allow"] = "POST"
    return send_error(405, "MethodNotAllowed", "use POST")
  end
  if not name:match("^[A-Za-z0-9-]+$") or #name < 5 or #name > 50 then
    return send_error(400, "InvalidTokenName", "a token name is 5 to 50 letters, digits and '-'")
  end
  local days = tonumber(ngx.var.arg_days or conf.rotate_days)
  if not days or days <= 0 or days > 3650 then
    return send_error(400, "InvalidDays", "days must be a number in (0, 3650]")
  end
  local expiry = rfc3339(ngx.time() + math.floor(days * 86400))
  local creds, err = rc:generate_credentials { token = name, name = "password2", expiry = expiry }
  if not creds then return send_acr_error(err) end
  local pw
  for _, p in ipairs(creds.passwords or {}) do
    if p.name == "password2" then pw = p end
  end
  if not pw then return send_error(502, "InvalidResponse", "the service returned no password2") end
  log(INFO, "acr-admin: rotated password2 of token ", name, ", expires ", pw.expiry or expiry)
  return send(200, { token = name, username = creds.username,
                     password = { name = "password2", value = pw.value,
                                  expiry = pw.expiry or expiry } },
              { ["Cache-Control"] = "no-store" })
end

-- syntax: acr_admin.health()   context: content_by_lua*
-- Answers from this worker's memory only, so it answers while operations wait.
function _M.health()
  return send(200, {
    status = "ok", registry = conf.registry, worker_pid = ngx.worker.pid(),
    sweeps = { runs = sweeps.runs, disabled = sweeps.disabled, failures = sweeps.failures,
               last_run = sweeps.last_run },
    driver = r.stats(),
    -- the blocking (libcurl) driver is never used here: this stays 0
    libcurl_connections = rc:connections(),
  })
end

function _M.not_found()
  return send_error(404, "NotFound", "GET /health, GET /tokens, POST /tokens/{name}/rotate")
end

return _M
