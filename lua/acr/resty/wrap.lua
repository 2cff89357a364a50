-- acr.resty.wrap: a blocking client's face over cosockets. r.wrap(client) answers
-- with a wrapper whose methods are the client's, each call prepared by the C core
-- and driven by acr.resty.driver; operations, pagers, tokens and scope maps come
-- wrapped likewise, so nothing reached from a wrapper blocks the worker.

local check = require "acr.check"
local checks = require "acr.resty.checks"
local driver = require "acr.resty.driver"
local paging = require "acr.resty.paging"
local util = require "acr.resty.util"

local type, pairs, ipairs, select, tostring, setmetatable, getmetatable, rawget, rawset =
  type, pairs, ipairs, select, tostring, setmetatable, getmetatable, rawget, rawset
local unpack = table.unpack or unpack
local merge, DEFAULTS, check_credential = checks.merge, checks.DEFAULTS, checks.check_credential
local check_phase, check_max = checks.check_phase, checks.check_max
local drive, drive_for, result, poll, start =
  driver.drive, driver.drive_for, driver.result, driver.poll, driver.start
local next_page, next_item = paging.next_page, paging.next_item
local type_name, new_error = util.type_name, util.new_error

local _M = {}

local Client, Operation, Pager, Resource = {}, {}, {}, {}
Client.__index = Client
Operation.__index = Operation

local wrap_resource   -- the Token and ScopeMap wrapper, defined with its methods below

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
  return next_item(self, self.pager, self.opts, self.rc, wrap_resource)
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
