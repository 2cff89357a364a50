-- The routes of ARM's paths: which operation a path names, with its parts
-- (subscription, resource group, registry, collection, name, operation id).

local registry = require "acr.emulator.registry"
local R = require "acr.emulator.reply"

local _M = { _VERSION = "0.1.0" }

local PROVIDER = registry.PROVIDER
local fail = R.fail

local SINGULAR = { scopeMaps = "scopeMap", tokens = "token" }

-- syntax: r = route.parse(segments)   segments of the path, without the leading ""
function _M.parse(segs)
  local l = {}
  for i, s in ipairs(segs) do l[i] = s:lower() end
  local n = #segs
  local r = { type = "unknown" }
  if n == 1 and l[1] == "subscriptions" then
    r.type = "subscriptions"
    return r
  end
  if n < 2 or l[1] ~= "subscriptions" or segs[2] == "" then return r end
  r.sub = segs[2]
  if n == 5 and l[3] == "providers" and l[4] == "microsoft.containerregistry"
    and l[5] == "registries" then
    r.type = "registries"
    return r
  end
  if n == 8 and l[3] == "providers" and l[4] == "microsoft.containerregistry"
    and l[5] == "locations" and segs[6] ~= "" and l[7] == "operationresults" and segs[8] ~= "" then
    r.type, r.opid = "operationResult", segs[8]
    return r
  end
  if n < 6 or l[3] ~= "resourcegroups" or segs[4] == "" or l[5] ~= "providers" then return r end
  r.rg = segs[4]
  if l[6] ~= "microsoft.containerregistry" then
    r.provider = segs[6]
    return r
  end
  if n < 9 or l[7] ~= "registries" or segs[8] == "" then
    r.resource_type = segs[7]
    return r
  end
  r.reg = segs[8]
  local rest, coll = n - 8, l[9]
  if coll == "scopemaps" or coll == "tokens" then
    r.coll = coll == "scopemaps" and "scopeMaps" or "tokens"
    if rest == 1 then
      r.type = r.coll
    elseif rest == 2 and segs[10] ~= "" then
      r.type, r.name = SINGULAR[r.coll], segs[10]
    elseif rest == 4 and segs[10] ~= "" and l[11] == "operationstatuses" and segs[12] ~= "" then
      r.type, r.name, r.opid = "operationStatus", segs[10], segs[12]
    end
  elseif coll == "generatecredentials" and rest == 1 then
    r.type = "generateCredentials"
  elseif coll == "operationstatuses" and rest == 2 and segs[10] ~= "" then
    r.type, r.opid = "operationStatus", segs[10]
  else
    r.resource_type = "registries/" .. segs[9]
  end
  return r
end

-- syntax: route.unknown(r)   the 404 of a path the emulator does not serve
function _M.unknown(route)
  if route.provider then
    return fail(404, "NoRegisteredProviderFound", "No registered resource provider found for namespace '"
      .. route.provider .. "'.")
  end
  if route.resource_type then
    return fail(404, "InvalidResourceType", "The resource type '" .. route.resource_type
      .. "' could not be found in the namespace '" .. PROVIDER .. "' of the emulator.")
  end
  return fail(404, "InvalidResourceType", "The request path '" .. ngx.var.uri
    .. "' does not name a resource type the emulator serves.")
end

return _M
