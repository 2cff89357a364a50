-- acr.resty: runs acr's operations inside nginx without blocking the worker.
--
-- The C core decides everything (retries, tokens, LRO polling, paging) and never
-- does I/O here: each acr.Operation says which request to send next
-- (op:next_request()) and how long to wait first (op:delay()); this module sends it
-- over a cosocket (acr.resty.http), waits with ngx.sleep, and feeds the answer back
-- (op:feed()). Every wait yields to nginx's event loop, so a worker serves other
-- requests while an operation polls. Credential token requests come out of the same
-- op:next_request() (with auth = true) and take the same path.
--
--   local r = require "acr.resty"
--   local tok, err = r.run(client:prepare("create_token", "ci", { scope_map = "ci-pull" }))
--   local rc = r.wrap(client)                      -- the client's methods, over cosockets
--   for t in rc:tokens() do ngx.say(t.name) end
--
-- See docs/RESTY.md.

local acr = require "acr"
local http = require "acr.resty.http"
local check = require "acr.check"

local ngx = ngx
local sleep, now, update_time, get_phase = ngx.sleep, ngx.now, ngx.update_time, ngx.get_phase
local type, pairs, ipairs, select, error, tostring, tonumber, setmetatable, getmetatable, rawget, rawset =
  type, pairs, ipairs, select, error, tostring, tonumber, setmetatable, getmetatable, rawget, rawset
local unpack = table.unpack or unpack

local ok_sema, semaphore = pcall(require, "ngx.semaphore")
if not ok_sema then semaphore = nil end

local _M = { _VERSION = "0.1.0", http = http }

-- acr.Error is the C core's error type; errors made here (a wait that runs out)
-- carry the same metatable so acr.is_error() and tostring() treat them alike.
local ERROR_MT = debug.getregistry()["acr.Error"]

local function new_error(code, message)
  return setmetatable({ code = code, message = message, retryable = false }, ERROR_MT)
end

local function type_name(v)
  local mt = getmetatable(v)
  return type(mt) == "table" and rawget(mt, "__name") or nil
end

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

local DEFAULTS = http.options()
DEFAULTS._merged = true

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

---------------------------------------------------------------------------
-- the driver
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

local counters = { operations = 0, exchanges = 0, auth_requests = 0, coalesced_auth = 0, sleeps = 0 }

-- Token requests in flight, by request: concurrent operations of one credential
-- that all need a token wait for one request's answer and are all fed it, so a cold
-- worker makes one token request, not one per operation. The request runs in a timer
-- (its own context), so it finishes and wakes the others whatever becomes of the
-- thread that asked first (ngx.thread.kill, a client abort). Should that go wrong
-- anyway, an entry older than its timeout is dead and a waiter that gives up takes over.
local inflight = {}

local function auth_key(req)
  return req.method .. " " .. req.url .. "\n" .. (req.body or "")
end

local function guarded_request(req, o)
  local ok, res, code, msg = pcall(http.request, req, o)
  if not ok then return nil, "TransportError", "the token request raised: " .. tostring(res) end
  return res, code, msg
end

local function settle(key, f, res, code, msg)
  f.result = { res, code, msg }
  if inflight[key] == f then inflight[key] = nil end
  if f.waiters > 0 then f.sema:post(f.waiters) end
end

local function lead(key, req, o, limit)
  update_time()
  local f = { sema = semaphore.new(), waiters = 1, started = now() }
  inflight[key] = f
  local ok = ngx.timer.at(0, function()
    settle(key, f, guarded_request(req, o))
  end)
  if not ok then
    -- no timer to be had: ask from this thread
    f.waiters = 0
    local res, code, msg = guarded_request(req, o)
    settle(key, f, res, code, msg)
    return res, code, msg
  end
  if f.sema:wait(limit + 1) and f.result then return unpack(f.result, 1, 3) end
  if inflight[key] == f then inflight[key] = nil end
  return nil, "Timeout", "the token request did not finish"
end

local function fetch(req, o)
  if not (req.auth and semaphore) then return http.request(req, o) end
  local key = auth_key(req)
  local limit = tonumber(req.timeout) or o.timeout
  local f = inflight[key]
  update_time()
  if f and now() - f.started > limit + 1 then
    inflight[key], f = nil, nil   -- dead: its answer is long overdue
  end
  if not f then return lead(key, req, o, limit) end
  f.waiters = f.waiters + 1
  counters.coalesced_auth = counters.coalesced_auth + 1
  local left = f.started + limit + 1 - now()
  if left > 0 and f.sema:wait(left) and f.result then return unpack(f.result, 1, 3) end
  if f.result then return unpack(f.result, 1, 3) end
  -- the request we waited for never answered: drop it and ask ourselves
  if inflight[key] == f then inflight[key] = nil end
  return lead(key, req, o, limit)
end

-- One exchange: send req, feed the answer (or the transport failure) to op.
local function exchange(op, req, o)
  counters.exchanges = counters.exchanges + 1
  if req.auth then counters.auth_requests = counters.auth_requests + 1 end
  local t0 = o.logger and (update_time() or now())
  local res, code, msg = fetch(req, o)
  if o.logger then
    update_time()
    -- method, URL, status, time: never a header or a body
    o.logger(res and res.status < 400 and "debug" or "warn",
      ("%s %s -> %s (%.0f ms, request id %s%s)"):format(req.method, req.url,
        res and res.status or code, (now() - t0) * 1000, op:request_id(),
        req.auth and ", token request" or ""))
  end
  if res then
    local body = res.body
    return op:feed(res.status, res.headers, body ~= "" and body or nil)
  end
  return op:feed(nil, nil, nil, code, msg)
end

-- Waits op:delay(), then makes one exchange. Returns false when nothing was sent
-- (the operation is done), "auth" after a token request, true otherwise. With a
-- deadline, returns "late" instead when the next request is due after it (having
-- waited until the deadline). The delay is asked again after each sleep: while this
-- thread slept, others of the worker may have taken the token the pacer saw coming
-- (the estimate is the client's), and then this request waits for the next one.
local function step(op, o, deadline)
  while true do
    local d = op:delay()
    if deadline then
      update_time()
      local left = deadline - now()
      if d > left then
        if left > 0 then sleep(left) end
        return "late"
      end
    end
    if d <= 0 then break end
    counters.sleeps = counters.sleeps + 1
    sleep(d > 0.001 and d or 0.001)   -- ngx.sleep rounds to milliseconds: never a spin
  end
  local req = op:next_request()
  if not req then
    -- ended, or held (the client's token requests wait out a back-off): op:delay() says
    -- how long, and the next step sleeps it
    return not op:done()
  end
  exchange(op, req, o)
  return req.auth and "auth" or true
end

-- A check of an entry point's first argument: check_arg(fname, x, level).
local function checker(want)
  return function(fname, x, level)
    if type_name(x) ~= want then check.typeerror(fname, 1, want, x, level) end
  end
end

local check_op = checker("acr.Operation")

-- Drives op to its end (or the deadline); returns true when done.
local function drive(op, o, deadline)
  counters.operations = counters.operations + 1
  while not op:done() do
    local s = step(op, o, deadline)
    if s == "late" then return false end
    if not s then break end
  end
  return op:done()
end

-- The value of a finished operation. (op:result() on a running one would run the
-- blocking driver: never here.)
local function result(op)
  if not op:done() then return nil, new_error("Timeout", "the operation is still running") end
  return op:result()
end

local function check_max(fname, max, argn, level)
  if max ~= nil and (type(max) ~= "number" or not (max >= 0)) then
    check.argerror(fname, argn, "a number of seconds >= 0 expected, got " .. check.type_of(max), level)
  end
end

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

-- Drives op until it ends or max seconds from now (no limit when max is nil).
local function drive_for(op, o, max)
  update_time()
  drive(op, o, max and now() + max)
end

-- Sends one request when one is due.
local function poll(op, o)
  if not op:done() and op:delay() <= 0 then step(op, o) end
  return op:status()
end

-- syntax: value, err = r.run(op, opts?)
function _M.run(op, opts)
  drive(op, enter("acr.resty.run", check_op, op, opts))
  return result(op)
end
_M.result = _M.run

-- syntax: value, err = r.wait(op, max_seconds?, opts?)
function _M.wait(op, max, opts)
  drive_for(op, enter("acr.resty.wait", check_op, op, opts, true, max), max)
  return result(op)
end

-- syntax: status = r.poll(op, opts?)
function _M.poll(op, opts)
  return poll(op, enter("acr.resty.poll", check_op, op, opts))
end

-- Sends the call's own request (after a token request when one is needed) and
-- returns once it is answered: what the blocking begin_* methods do with libcurl.
local function start(op, o)
  while not op:done() do
    local s = step(op, o)
    if s ~= "auth" then break end
  end
  return op
end

-- syntax: op = r.start(op, opts?)
function _M.start(op, opts)
  return start(op, enter("acr.resty.start", check_op, op, opts))
end

local function next_page(pager, o)
  local op, err = pager:next_operation()
  if not op then return nil, err end   -- the end, or the last page's nextLink refused
  drive(op, o)
  if not op:done() then return nil, new_error("Timeout", "the page request did not finish") end
  return pager:take(op)
end

local check_pager = checker("acr.Pager")

-- syntax: items, err = r.next_page(pager, opts?)
function _M.next_page(pager, opts)
  return next_page(pager, enter("acr.resty.next_page", check_pager, pager, opts))
end

-- The next of a pager's items, one page in memory at a time (s holds the page,
-- pos, count and finished); a failure raises the acr.Error, as the C pager's
-- iterator does. With rc, items come wrapped (tokens, scope maps).
local wrap_resource

local function next_item(s, pager, o, rc)
  while true do
    if s.pos < s.count then
      local page = s.page
      s.pos = s.pos + 1
      local item = page[s.pos]
      page[s.pos] = nil
      if rc then return wrap_resource(item, rc) end
      return item
    end
    if s.finished then return nil end
    local items, err = next_page(pager, o)
    if not items then
      s.finished, s.page = true, nil
      if err then error(err, 0) end
      return nil
    end
    s.page, s.pos, s.count = items, 0, #items
  end
end

-- syntax: for item in r.each(pager, opts?) do … end
function _M.each(pager, opts)
  local o = enter("acr.resty.each", check_pager, pager, opts)
  local s = { pos = 0, count = 0 }
  return function() return next_item(s, pager, o) end
end

-- syntax: t = r.stats()
function _M.stats()
  local t = {}
  for k, v in pairs(http.stats) do t[k] = v end
  for k, v in pairs(counters) do t[k] = v end
  return t
end

---------------------------------------------------------------------------
-- wrappers: the client's face over cosockets
---------------------------------------------------------------------------

local Client, Operation, Pager, Resource = {}, {}, {}, {}
Client.__index = Client
Operation.__index = Operation

local function is_wrapper(v)
  local mt = getmetatable(v)
  return mt == Client or mt == Resource or mt == Operation or mt == Pager
end

-- The C core takes its own objects: unwrap wrappers in arguments (one level deep
-- in option tables: scope_map=, token=).
local function raw(v)
  if type(v) ~= "table" then return v end
  local mt = getmetatable(v)
  if mt == Resource then return rawget(v, "obj") end
  if mt == Client then return rawget(v, "client") end
  if mt == nil then
    local copy
    for k, x in pairs(v) do
      if getmetatable(x) == Resource then
        copy = copy or {}
        copy[k] = rawget(x, "obj")
      end
    end
    if copy then
      for k, x in pairs(v) do if copy[k] == nil then copy[k] = x end end
      return copy
    end
  end
  return v
end

local function raw_args(...)
  local n = select("#", ...)
  local t = { ... }
  for i = 1, n do t[i] = raw(t[i]) end
  return unpack(t, 1, n)
end

local function wrap_value(rc, v, ...)
  local tn = type_name(v)
  if tn == "acr.Token" or tn == "acr.ScopeMap" then return wrap_resource(v, rc), ... end
  return v, ...
end

local function new_operation(op, rc, o)
  return setmetatable({ op = op, rc = rc, opts = o }, Operation)
end

-- client:request's per-call timeout is the exchange timeout here too.
local function call_opts(rc, name, ...)
  if name == "request" then
    local ropts = select(3, ...)
    if type(ropts) == "table" and type(ropts.timeout) == "number" and ropts.timeout > 0 then
      local o = {}
      for k, v in pairs(rc.opts) do o[k] = v end
      o.timeout = ropts.timeout
      return o
    end
  end
  return rc.opts
end

-- The operation of a wrapper method's call, and its options.
local function prepare_call(rc, name, ...)
  check_phase(4)
  return rc.client:prepare(name, raw_args(...)), call_opts(rc, name, ...)
end

local function run_call(rc, name, ...)
  local op, o = prepare_call(rc, name, ...)
  drive(op, o)
  return wrap_value(rc, result(op))
end

local function begin_call(rc, name, ...)
  local op, o = prepare_call(rc, name, ...)
  return new_operation(start(op, o), rc, o)
end

-- syntax: rc = r.wrap(client, opts?) | rop = r.wrap(op, opts?) | rpager = r.wrap(pager, opts?)
--         | robj = r.wrap(obj, client_or_rc)
function _M.wrap(x, arg)
  local tn = type_name(x)
  if tn == "acr.Client" or tn == "acr.Operation" or tn == "acr.Pager" then
    local o = merge("acr.resty.wrap", 2, DEFAULTS, arg, 2)
    check_credential("acr.resty.wrap", x, o, 2)
    if tn == "acr.Client" then return setmetatable({ client = x, opts = o }, Client) end
    if tn == "acr.Operation" then return new_operation(x, nil, o) end
    return setmetatable({ pager = x, opts = o, pos = 0, count = 0 }, Pager)
  elseif tn == "acr.Token" or tn == "acr.ScopeMap" then
    local rc = arg
    if type_name(rc) == "acr.Client" then rc = _M.wrap(rc) end
    if getmetatable(rc) ~= Client then
      check.argerror("acr.resty.wrap", 2, "the object's acr.Client or its r.wrap() expected", 1)
    end
    return wrap_resource(x, rc)
  elseif is_wrapper(x) then
    return x
  end
  check.typeerror("acr.resty.wrap", 1, "acr.Client, acr.Operation, acr.Pager, acr.Token or acr.ScopeMap",
                  x, 1)
end

-- The client's calls, each with its begin_* twin where the client has one.
local CALLS = {
  get_scope_map = false, create_scope_map = true, update_scope_map = true,
  delete_scope_map = true, get_token = false, create_token = true, update_token = true,
  delete_token = true, enable_token = true, disable_token = true,
  generate_credentials = true, request = true,
}

for name, has_begin in pairs(CALLS) do
  Client[name] = function(self, ...) return run_call(self, name, ...) end
  if has_begin then
    Client["begin_" .. name] = function(self, ...) return begin_call(self, name, ...) end
  end
end

-- syntax: rop = rc:prepare(name, ...)  -- unsent
function Client:prepare(name, ...)
  return new_operation(self.client:prepare(name, raw_args(...)), self, call_opts(self, name, ...))
end

local function new_pager(rc, pager, resources)
  return setmetatable({ pager = pager, rc = resources and rc or nil, opts = rc.opts,
                        pos = 0, count = 0 }, Pager)
end

function Client:tokens() return new_pager(self, self.client:tokens(), true) end
function Client:scope_maps() return new_pager(self, self.client:scope_maps(), true) end
function Client:pages(...) return new_pager(self, self.client:pages(...), false) end
function Client:connections() return self.client:connections() end
function Client:endpoint() return self.client:endpoint() end
function Client:registry_id() return self.client:registry_id() end
function Client:close() return self.client:close() end
function Client:unwrap() return self.client end
Client.__tostring = function(self) return "acr.resty(" .. tostring(self.client) .. ")" end

-- Operation wrapper: the acr.Operation's methods, the waiting ones over cosockets.
function Operation:result()
  check_phase(2)
  drive(self.op, self.opts)
  return wrap_value(self.rc, result(self.op))
end

function Operation:wait(max)
  check_phase(2)
  check_max("wait", max, 2, 2)
  drive_for(self.op, self.opts, max)
  return wrap_value(self.rc, result(self.op))
end

function Operation:poll()
  check_phase(2)
  return poll(self.op, self.opts)
end

function Operation:done() return self.op:done() end
function Operation:status() return self.op:status() end
function Operation:request_id() return self.op:request_id() end
function Operation:delay() return self.op:delay() end
function Operation:unwrap() return self.op end
Operation.__tostring = function(self) return tostring(self.op) end

-- Pager wrapper: callable in a generic for; next_page() a page at a time.
function Pager:next_page()
  check_phase(2)
  self.page, self.pos, self.count = nil, 0, 0
  local items, err = next_page(self.pager, self.opts)
  if items and self.rc then
    for i = 1, #items do items[i] = wrap_resource(items[i], self.rc) end
  end
  return items, err
end

function Pager:unwrap() return self.pager end

Pager.__index = Pager
Pager.__call = function(self)
  check_phase(2)
  return next_item(self, self.pager, self.opts, self.rc)
end
Pager.__tostring = function(self) return tostring(self.pager) end

-- Resource wrapper (Token, ScopeMap): fields read through, methods over cosockets.
local TOKEN_METHODS, SCOPE_MAP_METHODS = {}, {}

function wrap_resource(obj, rc)
  local kind = type_name(obj) == "acr.Token" and "token" or "scope_map"
  return setmetatable({ obj = obj, rc = rc, kind = kind }, Resource)
end

Resource.__index = function(self, k)
  local methods = rawget(self, "kind") == "token" and TOKEN_METHODS or SCOPE_MAP_METHODS
  local m = methods[k]
  if m then return m end
  local v = rawget(self, "obj")[k]
  -- fields only: the object's own methods would block
  if type(v) == "function" then return nil end
  return v
end
Resource.__tostring = function(self) return tostring(rawget(self, "obj")) end
Resource.__eq = function(a, b) return rawget(a, "obj") == rawget(b, "obj") end

-- After a successful refresh or update the wrapper holds the new state.
local function adopt(self, new, err)
  if new == nil then return nil, err end
  rawset(self, "obj", rawget(new, "obj"))
  return self
end

-- A resource method's call arguments, made from the method's own. Each is called
-- by the method itself, so its errors (level 3) name the method's caller.
local function name_arg(self)
  return self.obj.name
end

local function update_args(self, props)
  if type(props) ~= "table" then check.typeerror("update", 2, "table", props, 2) end
  return self.obj.name, props
end

local function credential_args(self, args)
  if args ~= nil and type(args) ~= "table" then
    check.typeerror("generate_credentials", 2, "table", args, 2)
  end
  local t = { token = self.obj }
  for k, v in pairs(args or {}) do
    if k == "token" then check.argerror("generate_credentials", 2, "field 'token' is the token itself", 2) end
    t[k] = v
  end
  return t
end

-- The resources' calls: method = { the client's call (a trailing "_" takes the
-- kind: get_token, get_scope_map), its arguments, whether the wrapper adopts the
-- answer, whether there is a begin_* twin }.
local RESOURCE_CALLS = {
  shared = {   -- tokens and scope maps
    refresh = { "get_", name_arg, true, false },
    update = { "update_", update_args, true, true },
    delete = { "delete_", name_arg, false, true },
  },
  token = {
    enable = { "enable_token", name_arg, true, true },
    disable = { "disable_token", name_arg, true, true },
    generate_credentials = { "generate_credentials", credential_args, false, true },
  },
}

local function add_call(methods, kind, method, call, args, adopts, has_begin)
  if call:sub(-1) == "_" then call = call .. kind end
  if adopts then
    methods[method] = function(self, a) return adopt(self, run_call(self.rc, call, args(self, a))) end
  else
    methods[method] = function(self, a) return run_call(self.rc, call, args(self, a)) end
  end
  if has_begin then
    methods["begin_" .. method] = function(self, a) return begin_call(self.rc, call, args(self, a)) end
  end
end

for _, methods in ipairs { TOKEN_METHODS, SCOPE_MAP_METHODS } do
  local kind = methods == TOKEN_METHODS and "token" or "scope_map"
  for _, set in ipairs { RESOURCE_CALLS.shared, RESOURCE_CALLS[kind] or {} } do
    for method, c in pairs(set) do add_call(methods, kind, method, unpack(c, 1, 4)) end
  end
  methods.to_table = function(self) return self.obj:to_table() end
  methods.unwrap = function(self) return self.obj end
end

function TOKEN_METHODS.scope_map(self)
  local id = self.obj.scope_map_id
  if not id then return nil, new_error("NoScopeMap", "the token names no scope map") end
  return run_call(self.rc, "get_scope_map", id:match("([^/]+)$"))
end

return _M
