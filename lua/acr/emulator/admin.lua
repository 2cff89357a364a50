-- /__admin/…: how tests steer and inspect the emulator. Loopback only, no auth,
-- JSON in and out. Admin calls are not counted in stats or the request log.

local state = require "acr.emulator.state"
local json = require "acr.emulator.json"
local util = require "acr.emulator.util"
local auth = require "acr.emulator.auth"
local registry = require "acr.emulator.registry"
local clock = require "acr.emulator.clock"
local login = require "acr.emulator.login"

local _M = { _VERSION = "0.1.0" }

local function reply(status, body)
  return util.send(status, body, { ["Cache-Control"] = "no-store" })
end

local function bad(message)
  return reply(400, json.object("error", json.object("code", "BadRequest", "message", message)))
end

local function body_object(optional)
  ngx.req.read_body()
  local text = ngx.req.get_body_data()
  if not text or text:find("^%s*$") then
    if optional then return {} end
    return nil, "a JSON object body is required"
  end
  local v, err = json.decode(text)
  if type(v) ~= "table" or not json.is_object(v) then
    return nil, "the body must be a JSON object" .. (err and (": " .. err) or "")
  end
  return v
end

local function settings_table()
  local s = {}
  for k, v in pairs(state.settings) do s[k] = v end
  return s
end

local routes = {}

routes["GET ping"] = function()
  return reply(200, json.object("ok", true))
end

routes["POST reset"] = function()
  state.reset()
  return reply(200, json.object("ok", true))
end

routes["GET settings"] = function()
  return reply(200, settings_table())
end

routes["POST settings"] = function()
  local t, err = body_object()
  if not t then return bad(err) end
  local ok, aerr = state.apply_settings(t)
  if not ok then return bad(aerr) end
  return reply(200, settings_table())
end

routes["POST fail-next"] = function()
  local t, err = body_object()
  if not t then return bad(err) end
  if type(t.name) ~= "string" or t.name == "" then return bad("'name' must be a non-empty string") end
  for _, k in ipairs { "code", "message" } do
    if t[k] ~= nil and type(t[k]) ~= "string" then return bad("'" .. k .. "' must be a string") end
  end
  local status = t.status
  if status ~= nil and (type(status) ~= "number" or status ~= math.floor(status)
    or status < 400 or status > 599) then
    return bad("'status' must be an HTTP error status (400-599)")
  end
  if t.raise ~= nil and type(t.raise) ~= "boolean" then return bad("'raise' must be a boolean") end
  state.fail_next[t.name:lower()] = {
    raise = t.raise,
    code = t.code or "InternalError",
    message = t.message or ("The operation on '" .. t.name .. "' failed."),
    status = status,
  }
  return reply(200, json.object("ok", true))
end

routes["GET stats"] = function()
  local requests = {}
  for k, v in pairs(state.stats.requests) do requests[k] = v end
  return reply(200, json.object("requests", requests,
    "connections", state.stats.connections, "total", state.stats.total))
end

routes["GET log"] = function()
  local out = json.array()
  for i, e in ipairs(state.log) do
    out[i] = json.object("seq", e.seq, "start", e.start, "time", e.time, "method", e.method,
      "path", e.path,
      "query", e.query, "kind", e.kind, "status", e.status, "connection", e.connection,
      "client_request_id", e.client_request_id, "accept", e.accept, "throttled", e.throttled)
  end
  return reply(200, out)
end

routes["GET issued"] = function()
  local out = json.array()
  for i, t in ipairs(state.issued) do out[i] = t end
  return reply(200, out)
end

routes["POST token"] = function()
  local t, err = body_object(true)
  if not t then return bad(err) end
  if t.lifetime ~= nil and type(t.lifetime) ~= "number" then return bad("'lifetime' must be a number") end
  for _, k in ipairs { "tenant", "client_id", "oid" } do
    if t[k] ~= nil and type(t[k]) ~= "string" then return bad("'" .. k .. "' must be a string") end
  end
  local token, exp = auth.issue { lifetime = t.lifetime, tid = t.tenant, appid = t.client_id, oid = t.oid }
  return reply(200, json.object("access_token", token, "expires_on", exp, "token_type", "Bearer"))
end

-- POST inject {path=, method=?, query=?, times=?, status=?, headers=?, body=?, drop=?,
--   content_length=?}: the next `times` requests whose path contains `path` (and whose
-- method and query match, when given) get this raw answer instead of ARM's, so clients
-- can be shown malformed JSON, a truncated body, an HTML 502, a Location to another
-- host, or a dropped connection.
routes["POST inject"] = function()
  local t, err = body_object()
  if not t then return bad(err) end
  if type(t.path) ~= "string" or t.path == "" then return bad("'path' must be a non-empty string") end
  for _, k in ipairs { "method", "query", "body" } do
    if t[k] ~= nil and type(t[k]) ~= "string" then return bad("'" .. k .. "' must be a string") end
  end
  for _, k in ipairs { "times", "status", "content_length" } do
    if t[k] ~= nil and (type(t[k]) ~= "number" or t[k] < 0 or t[k] % 1 ~= 0) then
      return bad("'" .. k .. "' must be a whole number")
    end
  end
  if t.status and (t.status < 100 or t.status > 599) then return bad("'status' must be 100-599") end
  if t.headers ~= nil then
    if not json.is_object(t.headers) then return bad("'headers' must be an object") end
    for k, v in pairs(t.headers) do
      if type(v) ~= "string" or k:find("[\r\n:]") or v:find("[\r\n]") then
        return bad("'headers' must map names to one-line strings")
      end
    end
  end
  state.injections[#state.injections + 1] = {
    path = t.path, method = t.method, query = t.query, times = t.times or 1,
    status = t.status or 200, headers = t.headers or {}, body = t.body or "",
    drop = t.drop == true, content_length = t.content_length,
  }
  return reply(200, json.object("ok", true, "pending", #state.injections))
end

-- Registries: GET lists them, POST {subscription, resource_group, name} creates one
-- (201; 200 and unchanged when it exists), DELETE with the same body removes one (404
-- when there is none). Created ones are dropped by reset; seeded ones come back empty.
local function registry_json(reg)
  local n_maps, n_tokens = 0, 0
  for _ in pairs(reg.scopeMaps) do n_maps = n_maps + 1 end
  for _ in pairs(reg.tokens) do n_tokens = n_tokens + 1 end
  return json.object("subscription", reg.sub, "resource_group", reg.rg, "name", reg.name,
    "id", registry.id(reg), "seeded", reg.seeded, "scope_maps", n_maps, "tokens", n_tokens)
end

local function registry_body()
  local t, err = body_object()
  if not t then return nil, err end
  local ok, cerr = registry.check(t.subscription, t.resource_group, t.name)
  if not ok then return nil, cerr end
  return t
end

routes["GET registries"] = function()
  local keys = {}
  for k in pairs(state.registries) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = json.array()
  for i, k in ipairs(keys) do out[i] = registry_json(state.registries[k]) end
  return reply(200, out)
end

routes["POST registries"] = function()
  local t, err = registry_body()
  if not t then return bad(err) end
  local reg, created = state.add_registry(t.subscription, t.resource_group, t.name)
  return reply(created and 201 or 200, registry_json(reg))
end

routes["DELETE registries"] = function()
  local t, err = registry_body()
  if not t then return bad(err) end
  local key = registry.key(t.subscription, t.resource_group, t.name)
  local reg = state.registries[key]
  if not reg then
    return reply(404, json.object("error", json.object("code", "NotFound",
      "message", "no registry " .. t.subscription .. "/" .. t.resource_group .. "/" .. t.name)))
  end
  state.registries[key] = nil
  return reply(200, registry_json(reg))
end

-- Subscriptions' display names (what GET /subscriptions says): GET lists the named
-- ones, POST {subscription, display_name} names one (reset brings back the seeded names).
routes["GET subscriptions"] = function()
  local keys = {}
  for k in pairs(state.subscription_names) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = json.array()
  for i, k in ipairs(keys) do
    local n = state.subscription_names[k]
    out[i] = json.object("subscription", n.sub, "display_name", n.name)
  end
  return reply(200, out)
end

routes["POST subscriptions"] = function()
  local t, err = body_object()
  if not t then return bad(err) end
  local ok, nerr = state.check_subscription_name(t.subscription, t.display_name)
  if not ok then return bad(nerr) end
  state.name_subscription(t.subscription, t.display_name)
  return reply(200, json.object("subscription", t.subscription, "display_name", t.display_name))
end

-- POST revoke: a new signing secret, so every token issued so far is refused (401).
routes["POST revoke"] = function()
  state.secret = require("acr.emulator.crypto").random_bytes(32)
  return reply(200, json.object("ok", true))
end

routes["POST clients"] = function()
  local t, err = body_object()
  if not t then return bad(err) end
  local info, rerr = auth.register_client(t)
  if not info then return bad(rerr) end
  return reply(200, json.object("client_id", info.client_id, "x5t", info.x5t))
end

routes["POST identity"] = function()
  local t, err = body_object()
  if not t then return bad(err) end
  if t.header ~= nil and (type(t.header) ~= "string" or t.header == "") then
    return bad("'header' must be a non-empty string")
  end
  if t.client_id ~= nil and (type(t.client_id) ~= "string" or t.client_id == "") then
    return bad("'client_id' must be a non-empty string")
  end
  if t.header then state.identity_header = t.header end
  if t.client_id then state.mi_client_id = t.client_id end
  return reply(200, json.object("header", state.identity_header, "client_id", state.mi_client_id))
end

-- GET clock: {"offset": s}, the seconds every stored time has been aged by since
-- reset. POST clock {"advance": s} ages them by s more (see clock.lua).
routes["GET clock"] = function()
  return reply(200, json.object("offset", clock.offset()))
end

routes["POST clock"] = function()
  local t, err = body_object()
  if not t then return bad(err) end
  for k in pairs(t) do
    if k ~= "advance" then return bad("unknown key '" .. tostring(k) .. "'") end
  end
  local s = t.advance
  if type(s) ~= "number" or s ~= s or s < 0 or s > clock.MAX_ADVANCE then
    return bad("'advance' must be a number of seconds from 0 to " .. clock.MAX_ADVANCE)
  end
  clock.advance(s)
  return reply(200, json.object("offset", clock.offset()))
end

-- POST login {"subscription"?, "registry", "username", "password"}: 200 {"ok":true,
-- "slot"} when the token exists, is enabled and has that password, unexpired; else
-- 401 {"ok":false,"reason"} (see login.lua).
routes["POST login"] = function()
  local t, err = body_object()
  if not t then return bad(err) end
  for _, k in ipairs { "registry", "username", "password", "subscription" } do
    local v = t[k]
    if (v ~= nil or k ~= "subscription") and (type(v) ~= "string" or v == "") then
      return bad("'" .. k .. "' must be a non-empty string")
    end
  end
  local slot, why, status = login.check(t)
  if slot then return reply(200, json.object("ok", true, "slot", slot)) end
  if status == 400 then return bad(why) end
  return reply(401, json.object("ok", false, "reason", why))
end

-- syntax: admin.handle(name)   name is the path after /__admin/
function _M.handle(name)
  local addr = ngx.var.remote_addr
  if addr ~= "127.0.0.1" and addr ~= "::1" then
    return reply(403, json.object("error", json.object("code", "Forbidden", "message", "loopback only")))
  end
  local method = ngx.req.get_method()
  local route = routes[method .. " " .. name]
  if route then return route() end
  for key in pairs(routes) do
    if key:match("^%S+ (.*)$") == name then
      return reply(405, json.object("error", json.object("code", "MethodNotAllowed",
        "message", method .. " is not allowed on /__admin/" .. name)))
    end
  end
  return reply(404, json.object("error", json.object("code", "NotFound",
    "message", "no admin endpoint /__admin/" .. name)))
end

return _M
