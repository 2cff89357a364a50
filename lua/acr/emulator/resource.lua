-- How ARM shows the resources of a registry: the JSON of a scope map or a token,
-- their ids and the registry's URL.

local json = require "acr.emulator.json"
local util = require "acr.emulator.util"
local registry = require "acr.emulator.registry"

local _M = { _VERSION = "0.1.0" }

local PROVIDER = registry.PROVIDER
local TYPES = {
  scopeMaps = PROVIDER .. "/registries/scopeMaps",
  tokens = PROVIDER .. "/registries/tokens",
}

-- syntax: url = resource.registry_url(reg)   absolute, as the client addressed us
function _M.registry_url(reg)
  return util.base_url() .. "/subscriptions/" .. ngx.escape_uri(reg.sub)
    .. "/resourceGroups/" .. ngx.escape_uri(reg.rg)
    .. "/providers/" .. PROVIDER .. "/registries/" .. ngx.escape_uri(reg.name)
end

local function resource_id(reg, coll, res)
  return registry.id(reg) .. "/" .. coll .. "/" .. res.name
end

-- syntax: body = resource.render(reg, coll, res)   coll "scopeMaps" | "tokens"
function _M.render(reg, coll, res)
  local props
  if coll == "scopeMaps" then
    props = json.object(
      "description", res.description, "type", res.type,
      "creationDate", res.creation_date, "provisioningState", res.state,
      "actions", json.array(res.actions))
  else
    local passwords = json.array()
    for _, n in ipairs { "password1", "password2" } do
      local p = res.passwords[n]
      if p then
        passwords[#passwords + 1] = json.object("creationTime", p.creation_time, "expiry", p.expiry, "name", n)
      end
    end
    local certs = json.array()
    for _, n in ipairs { "certificate1", "certificate2" } do
      local c = res.certificates[n]
      if c then
        certs[#certs + 1] = json.object("name", n, "expiry", c.expiry, "thumbprint", c.thumbprint)
      end
    end
    props = json.object(
      "creationDate", res.creation_date, "provisioningState", res.state,
      "scopeMapId", res.scope_map_id, "objectId", res.object_id,
      "credentials", json.object("certificates", certs, "passwords", passwords),
      "status", res.status)
  end
  return json.object("type", TYPES[coll], "id", resource_id(reg, coll, res),
    "name", res.name, "properties", props)
end

return _M
