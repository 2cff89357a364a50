-- The two lists a client reads to find a registry: the tenant's subscriptions
-- (Microsoft.Resources) and a subscription's registries, in ARM's shapes.

local state = require "acr.emulator.state"
local json = require "acr.emulator.json"
local registry = require "acr.emulator.registry"
local paging = require "acr.emulator.paging"

local _M = { _VERSION = "0.1.0" }

local S = state
local PROVIDER, REGION = registry.PROVIDER, registry.REGION

-- syntax: lookup.subscriptions(ctx)
-- GET /subscriptions: those of the registries, and those given a name (--subscription-name,
-- /__admin/subscriptions), ARM's shape, the display name "Subscription <id>" unless named.
function _M.subscriptions(ctx)
  local subs = {}
  for _, reg in pairs(S.registries) do
    local k = reg.sub:lower()
    subs[k] = subs[k] or { sub = reg.sub }
  end
  for k, named in pairs(S.subscription_names) do subs[k] = subs[k] or { sub = named.sub } end
  local n = 0
  for k, entry in pairs(subs) do
    n = n + 1
    entry.name = S.subscription_names[k] and S.subscription_names[k].name or ("Subscription " .. entry.sub)
  end
  return paging.page(ctx, subs, function(e)
    return json.object("id", "/subscriptions/" .. e.sub, "authorizationSource", "RoleBased",
      "managedByTenants", json.array(), "subscriptionId", e.sub, "tenantId", S.DEFAULT_TENANT_ID,
      "displayName", e.name, "state", "Enabled", "subscriptionPolicies", json.object(
        "locationPlacementId", "Public_2014-09-01", "quotaId", "PayAsYouGo_2014-09-01",
        "spendingLimit", "Off"))
  end, "count", json.object("type", "Total", "value", n))
end

-- syntax: lookup.registries(ctx)
-- GET /subscriptions/{sub}/providers/Microsoft.ContainerRegistry/registries: the
-- subscription's registries, ARM's shape (an unknown subscription has none).
function _M.registries(ctx)
  local want, items = ctx.route.sub:lower(), {}
  for k, reg in pairs(S.registries) do
    if reg.sub:lower() == want then items[k] = reg end
  end
  return paging.page(ctx, items, function(reg)
    return json.object("sku", json.object("name", "Standard", "tier", "Standard"),
      "type", PROVIDER .. "/registries", "id", registry.id(reg), "name", reg.name,
      "location", REGION:lower(), "tags", json.object(), "properties", json.object(
        "loginServer", reg.name:lower() .. ".azurecr.io", "creationDate", reg.creation_date,
        "provisioningState", "Succeeded", "adminUserEnabled", false,
        "publicNetworkAccess", "Enabled"))
  end)
end

return _M
