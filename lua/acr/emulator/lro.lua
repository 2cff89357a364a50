-- ARM's long-running operations: a mutating call answered in the configured style
-- (sync, async, location or body), and the polls that bring it to its end.

local state = require "acr.emulator.state"
local json = require "acr.emulator.json"
local util = require "acr.emulator.util"
local registry = require "acr.emulator.registry"
local R = require "acr.emulator.reply"

local _M = { _VERSION = "0.1.0" }

local S = state
local PROVIDER, REGION = registry.PROVIDER, registry.REGION
local reply, fail = R.reply, R.fail

-- How the realistic style answers each mutating call (what the recordings show).
local REALISTIC = {
  ["PUT scopeMap"] = "sync", ["PATCH scopeMap"] = "async",
  ["PUT token"] = "async", ["PATCH token"] = "async",
  ["DELETE scopeMap"] = "location", ["DELETE token"] = "location",
  ["POST generateCredentials"] = "sync",
}

local function retry_after()
  return tostring(S.settings.retry_after)
end

local function complete(op)
  op.done = true
  if op.fail then
    op.status = "Failed"
    if op.on_failure then op.on_failure() end
  else
    op.status = "Succeeded"
    if op.on_success then op.on_success() end
  end
end

-- One poll of an operation: K polls answer "in progress", the next one completes it.
local function advance(op)
  if op.done then return end
  if op.polls_left > 0 then
    op.polls_left = op.polls_left - 1
    return
  end
  complete(op)
end

-- syntax: f = lro.take_fail(name)   the failure /__admin/fail-next set for name, once
function _M.take_fail(name)
  local key = name:lower()
  local f = S.fail_next[key]
  S.fail_next[key] = nil
  -- lets a spec check that a Lua error in a handler becomes ARM's 500
  if f and f.raise then error("injected handler error for '" .. name .. "'") end
  return f
end

local function fail_op_response(f)
  return fail(f.status or 400, f.code, f.message)
end

-- syntax: lro.begin(ctx, op)   answers the call
-- Runs a mutating call in the configured style.
--   op.verb       "create" | "update" | "delete" | "post"
--   op.apply()    makes the change visible (values, provisioning state)
--   op.on_success / op.on_failure   run when the operation ends
--   op.final()    -> status, body of the finished call (sync answer, Location result)
--   op.status_base  URL the operationStatuses segment is appended to
--   op.resource   the scope map or token (nil for generateCredentials)
function _M.begin(ctx, op)
  local style = S.settings.lro_style
  if style == "realistic" then style = REALISTIC[ctx.kind] end
  if style == "body" and (op.verb == "delete" or op.verb == "post") then style = "sync" end

  if style == "sync" then
    if op.fail then return fail_op_response(op.fail) end
    -- the newest operation owns the resource's provisioning state
    if op.resource then op.resource.pending = op end
    op.apply()
    complete(op)
    return reply(op.final())
  end

  op.id = "token-" .. util.uuid()
  op.style = style
  op.polls_left = S.settings.polls
  op.status = "InProgress"
  op.status_url = op.status_base .. "/operationStatuses/" .. op.id .. "?api-version=" .. ctx.api_version
  op.location_url = util.base_url() .. "/subscriptions/" .. ngx.escape_uri(ctx.route.sub) .. "/providers/"
    .. PROVIDER .. "/locations/" .. REGION .. "/operationResults/" .. op.id .. "?api-version=" .. ctx.api_version
  S.ops[op.id] = op
  if op.resource then op.resource.pending = op end
  op.apply()

  local headers = { ["Retry-After"] = retry_after() }
  local body
  if style == "async" then
    headers["Azure-AsyncOperation"] = op.status_url
    if op.verb == "post" then headers["Location"] = op.location_url end
  elseif style == "location" then
    headers["Location"] = op.location_url
  else -- body: the resource's own provisioningState is the only signal
    headers["Retry-After"] = nil
  end
  local status
  if op.verb == "create" or op.verb == "update" then
    if style == "location" then
      status = 202
    else
      status, body = 201, op.render()
    end
  else
    status = 202
  end
  return reply(status, body, headers)
end

-- syntax: lro.body_style_poll(res)   a GET of res is a poll of its body-style operation
function _M.body_style_poll(res)
  local op = res.pending
  if op and op.style == "body" then advance(op) end
end

-- syntax: lro.status(ctx)   GET of an Azure-AsyncOperation status resource
function _M.status(ctx)
  local op = S.ops[ctx.route.opid]
  if not op or op.style ~= "async" then
    return fail(404, "ResourceNotFound", "The operation '" .. ctx.route.opid .. "' could not be found.", nil, true)
  end
  advance(op)
  local body = json.object("status", op.status,
    "error", op.status == "Failed" and json.object("code", op.fail.code, "message", op.fail.message) or nil)
  return reply(200, body, { ["Azure-AsyncOperation"] = op.status_url, ["Retry-After"] = retry_after() })
end

-- syntax: lro.result(ctx)   GET of a Location (operationResults) URL
function _M.result(ctx)
  local op = S.ops[ctx.route.opid]
  if not op or op.style == "body" then
    return fail(404, "ResourceNotFound", "The operation '" .. ctx.route.opid .. "' could not be found.", nil, true)
  end
  advance(op)
  if not op.done then
    return reply(202, nil, { Location = op.location_url, ["Retry-After"] = retry_after() })
  end
  if op.status == "Failed" then return fail_op_response(op.fail) end
  return reply(op.final())
end

return _M
