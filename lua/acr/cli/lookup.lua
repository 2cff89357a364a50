-- acr.cli.lookup — what az takes for a setting the command line leaves out: the
-- defaults of its configuration (AZURE_<SECTION>_<KEY>, then the config file), the
-- default subscription of its profile, a subscription named rather than given by id,
-- and the resource group of a registry, found in the subscription's registry list.
--
-- Files are az's, in AZURE_CONFIG_DIR or ~/.azure: `config` (INI) and
-- `azureProfile.json` (which az writes with a UTF-8 BOM). Nothing here writes.
-- What ARM answers is server data: an id is checked before it names a resource group.

local fail = require "acr.cli.fail"
local jmespath = require "acr.jmespath"   -- for its JSON reader (no other decoder needed)
local registry_id = require("acr.audit").registry_id

local _M = {}

local REGISTRY_TYPE = "Microsoft.ContainerRegistry/registries"
local BOM = "\239\187\191"

-- syntax: dir = lookup.config_dir()   AZURE_CONFIG_DIR (~ expanded), else ~/.azure; nil without HOME
function _M.config_dir()
  local home = os.getenv("HOME")
  local d = os.getenv("AZURE_CONFIG_DIR")
  if d and d ~= "" then
    if home and (d == "~" or d:sub(1, 2) == "~/") then d = home .. d:sub(2) end
    return d
  end
  if home and home ~= "" then return home .. "/.azure" end
end

local function read(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  if s and s:sub(1, 3) == BOM then s = s:sub(4) end
  return s
end

-- syntax: t = lookup.ini(text)   t[section][key] = value
-- As Python's configparser reads az's file: `key = value` or `key: value`, keys in
-- lower case, values trimmed, lines starting with # or ; are comments; an indented
-- line continues the value before it.
function _M.ini(text)
  local t, section, last = {}, nil, nil
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line = line:gsub("\r$", "")
    local indented = line:find("^[ \t]+%S") ~= nil
    local s = line:match("^%s*(.-)%s*$")
    if s == "" or s:find("^[#;]") then
      last = nil
    elseif indented and last then
      section[last] = section[last] .. "\n" .. s
    elseif s:find("^%[.*%]$") then
      local name = s:sub(2, -2)
      t[name] = t[name] or {}
      section, last = t[name], nil
    elseif section then
      local k, v = s:match("^([^=:]-)%s*[=:]%s*(.*)$")
      if k and k ~= "" then
        last = k:lower()
        section[last] = v
      end
    end
  end
  return t
end

-- syntax: d = lookup.defaults()   { group=, acr=, output= }, each from az's variable
-- (AZURE_DEFAULTS_GROUP, AZURE_DEFAULTS_ACR, AZURE_CORE_OUTPUT), else its config
-- file ([defaults] group, acr; [core] output); d.source[key] says which.
local DEFAULTS = {
  { "group", "defaults", "AZURE_DEFAULTS_GROUP" },
  { "acr", "defaults", "AZURE_DEFAULTS_ACR" },
  { "output", "core", "AZURE_CORE_OUTPUT" },
}

function _M.defaults()
  local d, file = { source = {} }, nil
  for _, e in ipairs(DEFAULTS) do
    local key, section, var = e[1], e[2], e[3]
    local v = os.getenv(var)
    if v and v ~= "" then
      d[key], d.source[key] = v, var
    else
      if file == nil then
        local dir = _M.config_dir()
        local text = dir and read(dir .. "/config")
        file = text and _M.ini(text) or false
      end
      v = file and file[section] and file[section][key]
      if v and v ~= "" then d[key], d.source[key] = v, "[" .. section .. "] " .. key .. " of az's config" end
    end
  end
  return d
end

local function is_id(s)
  return type(s) == "string" and #s >= 1 and #s <= 64 and s:find("^[%w%-]+$") ~= nil
end

-- syntax: id = lookup.default_subscription()   the one az's profile marks isDefault, or nil
-- (no profile, or no default). A profile that is not JSON, or several defaults, fails.
function _M.default_subscription()
  local dir = _M.config_dir()
  local path = dir and (dir .. "/azureProfile.json")
  local text = path and read(path)
  if not text then return nil end
  local profile = jmespath.decode(text)
  if type(profile) ~= "table" then fail.failure("cannot read " .. path .. ": it is not JSON") end
  local found = {}
  for _, s in ipairs(type(profile.subscriptions) == "table" and profile.subscriptions or {}) do
    if type(s) == "table" and s.isDefault == true then found[#found + 1] = s end
  end
  if #found == 0 then return nil end
  if #found > 1 then
    fail.failure(path .. " marks several subscriptions as the default: run 'az account set'")
  end
  if not is_id(found[1].id) then
    fail.failure(path .. ": the default subscription's id is not a subscription id")
  end
  return found[1].id
end

-- Every item of every page of a list ARM answers (an error in between raises it).
local function each_page(client, path, api_version, f)
  local pager = client:pages(path, { api_version = api_version })
  local n = 0
  while true do
    local items, err = pager:next_page()
    if not items then
      fail.on(nil, err)
      return
    end
    for _, item in ipairs(items) do
      n = n + 1
      f(item, n)
    end
  end
end

-- syntax: bool = lookup.is_guid(s)   a subscription id as ARM makes them
_M.is_guid = require("acr.check").is_guid

-- syntax: id, name = lookup.subscription(client, value, given_by)
-- value is an id (a GUID: taken as it is, nothing asked) or an id or display name found
-- in ARM's subscription list (GET /subscriptions), compared case-insensitively, as az
-- compares them. given_by ("--subscription", "AZURE_SUBSCRIPTION_ID") names the value
-- in errors, which never repeat it. name: the display name, when it was looked up.
function _M.subscription(client, value, given_by)
  if _M.is_guid(value) then return value end
  local want, by_id, by_name = value:lower(), nil, {}
  each_page(client, "/subscriptions", "2022-12-01", function(s, n)
    if type(s) ~= "table" then
      fail.failure(("ARM's subscription list is malformed (item %d is not an object)"):format(n))
    end
    local id, name = s.subscriptionId, s.displayName
    if type(id) == "string" and id:lower() == want then by_id = by_id or s end
    if type(name) == "string" and name:lower() == want then by_name[#by_name + 1] = s end
  end)
  local found = by_id or (#by_name == 1 and by_name[1])
  if not found and #by_name > 1 then
    local ids = {}
    for i, s in ipairs(by_name) do ids[i] = fail.printable(tostring(s.subscriptionId)) end
    fail.failure(("Multiple subscriptions have the name %s gives: %s. Specify the subscription ID.")
      :format(given_by, table.concat(ids, ", ")))
  end
  if not found then
    fail.failure(("Subscription not found: no subscription's id or name is what %s gives. "
      .. "Check the spelling and casing and try again."):format(given_by))
  end
  if not is_id(found.subscriptionId) then
    fail.failure("ARM's subscription list is malformed (a subscriptionId is not a subscription id)")
  end
  return found.subscriptionId, type(found.displayName) == "string" and found.displayName or nil
end

-- The resource group of a registry's id, when the id is exactly that of registry name
-- of subscription sub (acr.audit.registry_id reads it: the one reader of registry ids;
-- SUB and NAME compared case-insensitively).
local function group_of(id, sub, name)
  local isub, rg, iname = registry_id(id)
  if not isub or isub:lower() ~= sub:lower() or iname:lower() ~= name:lower() then return nil end
  return rg
end

-- syntax: rg = lookup.resource_group(client, sub, registry, sub_name?)
-- The registry's resource group, as az finds it: the subscription's registries (GET
-- .../providers/Microsoft.ContainerRegistry/registries, every page), the name compared
-- case-insensitively. None: a not-found failure; several (in different resource
-- groups): a failure naming them.
function _M.resource_group(client, sub, registry, sub_name)
  local path = "/subscriptions/" .. sub .. "/providers/" .. REGISTRY_TYPE
  local found, want = {}, registry:lower()
  each_page(client, path, "2019-05-01", function(r, n)
    if type(r) ~= "table" or type(r.name) ~= "string" then
      fail.failure(("ARM's registry list is malformed (item %d is not a registry)"):format(n))
    end
    if r.name:lower() == want then
      local rg = group_of(r.id, sub, registry)
      if not rg then
        fail.failure(("ARM's registry list is malformed (the id of item %d is not the id of "
          .. "registry '%s' in subscription '%s')"):format(n, registry, sub))
      end
      found[#found + 1] = rg
    end
  end)
  if #found == 0 then
    local where = sub_name and ("'" .. fail.printable(sub_name) .. " (" .. sub .. ")'") or ("'" .. sub .. "'")
    fail.failure(("The resource with name '%s' and type '%s' could not be found in subscription %s.")
      :format(registry, REGISTRY_TYPE, where), { not_found = true })
  end
  if #found > 1 then
    fail.failure(("More than one resources with type '%s' are found with name '%s' (resource "
      .. "groups %s): give -g/--resource-group."):format(REGISTRY_TYPE, registry, table.concat(found, ", ")))
  end
  return found[1]
end

return _M
