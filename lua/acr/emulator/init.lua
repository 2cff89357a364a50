-- acr-emulator: an offline stand-in for Azure Resource Manager (ACR scope maps
-- and tokens) and the Entra ID / managed identity token endpoints, served by
-- nginx + ngx_http_lua. bin/acr-emulator writes the nginx.conf that calls
-- init(), init_worker(), handle() and log() below.

local ffi = require "ffi"
local state = require "acr.emulator.state"
local util = require "acr.emulator.util"
local arm = require "acr.emulator.arm"
local admin = require "acr.emulator.admin"
local auth = require "acr.emulator.auth"

local _M = { _VERSION = "0.1.0" }

ffi.cdef [[ int kill(int pid, int sig); ]]
local ESRCH, SIGTERM = 3, 15

-- syntax: emulator.init(settings_path)   context: init_by_lua
function _M.init(path)
  state.init(path)
end

-- Shut the emulator down when the process that started it is gone, so a test
-- run killed half-way leaves no server behind.
local function gone(pid)
  if ffi.C.kill(pid, 0) ~= 0 then return ffi.errno() == ESRCH end
  -- exited but not yet reaped (a slow PID 1 in containers) counts as gone
  local f = io.open("/proc/" .. pid .. "/stat", "r")
  if not f then return false end
  local stat = f:read("*l") or ""
  f:close()
  return stat:match("%) (%a)") == "Z"
end

local function watch(pid)
  local function check(premature)
    if premature then return end
    if gone(pid) then
      ngx.log(ngx.NOTICE, "acr-emulator: watched process ", pid, " has exited, shutting down")
      ffi.C.kill(require("ngx.process").get_master_pid(), SIGTERM)
    end
  end
  local ok, err = ngx.timer.every(0.5, check)
  if not ok then ngx.log(ngx.ERR, "acr-emulator: cannot watch pid ", pid, ": ", err) end
end

-- syntax: emulator.init_worker()   context: init_worker_by_lua
function _M.init_worker()
  state.init_worker()
  local pid = tonumber(state.config.watch_pid)
  if pid and pid > 0 then watch(pid) end
end

-- The first pending /__admin/inject answer that matches this request, used up once.
local function injected()
  local list = state.injections
  local uri, method, args = ngx.var.uri, ngx.req.get_method(), ngx.var.args or ""
  for i, inj in ipairs(list) do
    if uri:find(inj.path, 1, true) and (not inj.method or inj.method == method)
      and (not inj.query or args:find(inj.query, 1, true)) then
      inj.times = inj.times - 1
      if inj.times <= 0 then table.remove(list, i) end
      return inj
    end
  end
end

local function send_injected(ctx, inj)
  ctx.kind = ngx.req.get_method() .. " injected"
  if inj.drop then return ngx.exit(444) end
  ngx.status = inj.status
  for k, v in pairs(inj.headers) do ngx.header[k] = v end
  -- A Content-Length larger than the body makes a truncated response: send what there
  -- is, then close the connection (ngx.ERROR) rather than leave the client waiting.
  ngx.header["Content-Length"] = inj.content_length or #inj.body
  ngx.print(inj.body)
  if inj.content_length and inj.content_length > #inj.body then
    ngx.flush(true)
    return ngx.exit(ngx.ERROR)
  end
  return ngx.exit(ngx.OK)
end

local function dispatch(ctx)
  local uri = ngx.var.uri
  local name = uri:match("^/__admin/(.*)$")
  if name then
    ctx.admin = true
    return admin.handle(name)
  end
  local inj = injected()
  if inj then return send_injected(ctx, inj) end
  local segs = util.split(uri:sub(2), "/")
  if #segs == 4 and segs[2] == "oauth2" and segs[3]:lower() == "v2.0" and segs[4] == "token" and segs[1] ~= "" then
    ctx.kind = ngx.req.get_method() .. " oauth2"
    return auth.token_endpoint(segs[1])
  end
  if uri == "/metadata/identity/oauth2/token" then
    ctx.kind = ngx.req.get_method() .. " imds"
    return auth.imds()
  end
  if uri == "/msi/token" then
    ctx.kind = ngx.req.get_method() .. " msi"
    return auth.app_service()
  end
  return arm.handle(segs)
end

-- syntax: emulator.handle()   context: content_by_lua
-- A Lua error becomes ARM's 500 InternalServerError and is logged.
function _M.handle()
  local ctx = ngx.ctx
  local ok, err = xpcall(dispatch, debug.traceback, ctx)
  if not ok then
    ngx.log(ngx.ERR, "acr-emulator: handler error: ", err)
    ctx.internal_error = true
    if not ngx.headers_sent then
      arm.fail(500, "InternalServerError", "The emulator failed to process the request.")
    end
  end
end

-- syntax: emulator.too_large()   context: content_by_lua of nginx's error_page for 413
function _M.too_large()
  ngx.ctx.kind = ngx.req.get_method() .. " too large"
  arm.too_large()
end

-- syntax: emulator.log()   context: log_by_lua
function _M.log()
  local ctx = ngx.ctx
  if ctx.admin then return end
  local kind = ctx.kind or "unknown"
  local stats = state.stats
  stats.requests[kind] = (stats.requests[kind] or 0) + 1
  stats.total = stats.total + 1
  local conn = tonumber(ngx.var.connection)
  if not state.seen_connections[conn] then
    state.seen_connections[conn] = true
    stats.connections = stats.connections + 1
  end
  state.seq = state.seq + 1
  local log = state.log
  if #log >= 10000 then
    -- Keep the newest half in one move: shifting one entry per request made every
    -- request pay for the whole log.
    local keep = {}
    for i = 5001, #log do keep[#keep + 1] = log[i] end
    state.log, log = keep, keep
  end
  log[#log + 1] = {
    seq = state.seq, start = ngx.req.start_time(), time = ngx.now(),
    method = ngx.req.get_method(), path = ngx.var.uri,
    query = ngx.var.args, kind = kind, status = ngx.status, connection = conn,
    client_request_id = ngx.var.http_x_ms_client_request_id, accept = ngx.var.http_accept,
    throttled = ctx.throttled,   -- a 429 of the buckets, not of --fail-rate
  }
end

return _M
