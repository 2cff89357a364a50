-- ARM's answers: the headers every one carries, and its error bodies.

local json = require "acr.emulator.json"
local util = require "acr.emulator.util"
local throttle = require "acr.emulator.throttle"
local registry = require "acr.emulator.registry"
local versions = require "acr.emulator.versions"

local _M = { _VERSION = "0.1.0" }

local PROVIDER = registry.PROVIDER

local function arm_headers(h)
  h = h or {}
  local req = ngx.req.get_headers()
  local rid = util.uuid()
  h["x-ms-request-id"] = rid
  h["x-ms-correlation-request-id"] = util.single(req["x-ms-correlation-request-id"]) or rid
  h["x-ms-client-request-id"] = util.single(req["x-ms-client-request-id"])
  h["x-ms-routing-request-id"] = registry.REGION .. ":" .. util.routing_time() .. ":" .. rid
  throttle.header(h, ngx.ctx)
  h["Cache-Control"] = "no-cache"
  h["Pragma"] = "no-cache"
  h["Expires"] = "-1"
  h["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
  h["X-Content-Type-Options"] = "nosniff"
  h["Server"] = "Microsoft-HTTPAPI/2.0"
  h["api-supported-versions"] = versions.SUPPORTED
  return h
end

-- syntax: reply.reply(status, body?, headers?)   headers: the call's own, ARM's are added
function _M.reply(status, body, headers)
  return util.send(status, body, arm_headers(headers))
end
local reply = _M.reply

local function error_body(code, message, failed)
  return json.object("error", json.object("code", code, "message", message),
    "status", failed and "Failed" or nil)
end

-- ARM's error shape; `failed` adds the resource provider's top-level "status":"Failed".
function _M.fail(status, code, message, headers, failed)
  return reply(status, error_body(code, message, failed), headers)
end
local fail = _M.fail

-- syntax: reply.not_found(name)   the resource provider's 404 for a scope map or token
function _M.not_found(name)
  return fail(404, "ResourceNotFound", "The resource " .. name .. " could not be found.", nil, true)
end

-- ARM's own answer for a registry that does not exist (no "status" member: it comes
-- from ARM, not from the resource provider).
function _M.registry_not_found(r)
  return fail(404, "ResourceNotFound", "The Resource '" .. PROVIDER .. "/registries/" .. r.reg
    .. "' under resource group '" .. r.rg .. "' was not found. For more details please go to "
    .. "https://aka.ms/ARMResourceNotFoundFix")
end

return _M
