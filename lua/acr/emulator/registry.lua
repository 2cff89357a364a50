-- Registries: which exist, and what a new one holds. A registry exists only when it
-- was seeded (--registry, the settings file's "registries") or created through
-- /__admin/registries; any other name answers ARM's 404, so a typo in a script is
-- not met with an empty list.

local util = require "acr.emulator.util"

local _M = { _VERSION = "0.1.0" }

_M.PROVIDER = "Microsoft.ContainerRegistry"

-- The region every registry is in, and the one ARM's answers come from.
_M.REGION = "EASTUS"

_M.SYSTEM_MAPS = {
  { name = "_repositories_admin",
    description = "Can perform all read, write and delete operations on the registry",
    actions = { "repositories/*/metadata/read", "repositories/*/metadata/write",
      "repositories/*/content/read", "repositories/*/content/write",
      "repositories/*/content/delete" } },
  { name = "_repositories_pull",
    description = "Can pull any repository of the registry",
    actions = { "repositories/*/content/read" } },
  { name = "_repositories_push",
    description = "Can push to any repository of the registry",
    actions = { "repositories/*/content/read", "repositories/*/content/write" } },
}

-- syntax: key = registry.key(sub, rg, name)   ids are compared case-insensitively
function _M.key(sub, rg, name)
  return sub:lower() .. "/" .. rg:lower() .. "/" .. name:lower()
end

-- syntax: id = registry.id(reg)
function _M.id(reg)
  return "/subscriptions/" .. reg.sub .. "/resourceGroups/" .. reg.rg
    .. "/providers/" .. _M.PROVIDER .. "/registries/" .. reg.name
end

-- syntax: key, name = registry.local_id(reg, id, coll)
-- An ARM resource id inside this registry: returns the collection's entry key or nil.
function _M.local_id(reg, id, coll)
  if type(id) ~= "string" then return nil end
  local p = util.split(id, "/")
  if #p ~= 11 or p[1] ~= "" or p[2]:lower() ~= "subscriptions"
    or p[4]:lower() ~= "resourcegroups" or p[6]:lower() ~= "providers"
    or p[7]:lower() ~= "microsoft.containerregistry" or p[8]:lower() ~= "registries"
    or p[10]:lower() ~= coll:lower() or p[11] == "" then
    return nil
  end
  if _M.key(p[3], p[5], p[9]) ~= _M.key(reg.sub, reg.rg, reg.name) then
    return nil
  end
  return p[11]:lower(), p[11]
end

-- syntax: ok, err = registry.check(sub, rg, name)
-- What a registry may be called: a subscription and a resource group that fit in a
-- path segment, and ARM's registry name rule (5 to 50 letters and digits).
function _M.check(sub, rg, name)
  for _, p in ipairs { { "subscription", sub }, { "resource_group", rg }, { "name", name } } do
    if type(p[2]) ~= "string" or p[2] == "" or p[2]:find("[/%s%%?#]") then
      return nil, "'" .. p[1] .. "' must be a non-empty string without '/', '%', '?', '#' or spaces"
    end
  end
  if #name < 5 or #name > 50 or not name:find("^%w+$") then
    return nil, "registry name '" .. name .. "' must be 5 to 50 letters and digits"
  end
  return true
end

-- syntax: sub, rg, name = registry.parse(spec)   spec "SUB/RG/NAME"; nil, err when malformed
function _M.parse(spec)
  if type(spec) ~= "string" then return nil, "a registry must be a string SUB/RG/NAME" end
  local sub, rg, name = spec:match("^([^/]*)/([^/]*)/([^/]*)$")
  if not sub then return nil, "registry '" .. spec .. "' must be SUBSCRIPTION/RESOURCE_GROUP/NAME" end
  local ok, err = _M.check(sub, rg, name)
  if not ok then return nil, "registry '" .. spec .. "': " .. err end
  return sub, rg, name
end

-- syntax: reg = registry.new(sub, rg, name, seed_data, started)
-- A registry as ACR makes one: the three system scope maps (dated when the emulator
-- started), plus seed_data scope maps seed-map-NNNN and tokens seed-token-NNNN.
function _M.new(sub, rg, name, seed_data, started)
  local now = util.iso_time()
  local reg = { sub = sub, rg = rg, name = name, creation_date = now, scopeMaps = {}, tokens = {} }
  for _, m in ipairs(_M.SYSTEM_MAPS) do
    reg.scopeMaps[m.name:lower()] = {
      name = m.name, description = m.description, type = "SystemDefined",
      actions = m.actions, creation_date = util.iso_time(started), state = "Succeeded",
    }
  end
  for i = 1, seed_data do
    local map = string.format("seed-map-%04d", i)
    reg.scopeMaps[map] = {
      name = map, description = "Seeded scope map " .. i, type = "UserDefined",
      actions = { string.format("repositories/seed-%04d/content/read", i) },
      creation_date = now, state = "Succeeded",
    }
    local tok = string.format("seed-token-%04d", i)
    reg.tokens[tok] = {
      name = tok, creation_date = now, state = "Succeeded", status = "enabled",
      scope_map_id = _M.id(reg) .. "/scopeMaps/" .. map,
      passwords = {}, certificates = {},
    }
  end
  return reg
end

return _M
