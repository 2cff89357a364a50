-- The api-versions ARM takes for each kind of request, and the check of a
-- request's api-version query parameter against them.

local _M = { _VERSION = "0.1.0" }

-- As advertised by ACR in 2025 (api-supported-versions in the recordings).
local SUPPORTED = "2019-05-01-preview, 2020-11-01-preview, 2021-06-01-preview, "
  .. "2021-08-01-preview, 2021-12-01-preview, 2022-02-01-preview, 2022-12-01, "
  .. "2023-01-01-preview, 2023-06-01-preview, 2023-07-01, 2023-08-01-preview, "
  .. "2023-11-01-preview, 2024-01-01-preview, 2024-11-01-preview, 2025-03-01-preview, "
  .. "2025-04-01, 2025-05-01-preview, 2025-09-01-preview"
_M.SUPPORTED = SUPPORTED

local function version_set(list)
  local set = {}
  for v in list:gmatch("[^, ]+") do set[v] = true end
  return set
end
local API_VERSIONS = version_set(SUPPORTED)

-- The two lists a client reads to find a registry: the tenant's subscriptions
-- (Microsoft.Resources) and a subscription's registries (GA versions too).
local LOOKUP_SUPPORTED = {
  subscriptions = "2016-06-01, 2019-06-01, 2019-11-01, 2020-01-01, 2021-01-01, 2022-12-01",
  registries = "2017-10-01, 2019-05-01, 2021-09-01, " .. SUPPORTED,
}
local LOOKUP_VERSIONS = {
  subscriptions = version_set(LOOKUP_SUPPORTED.subscriptions),
  registries = version_set(LOOKUP_SUPPORTED.registries),
}

local function api_version(versions)
  local found
  for k, v in pairs(ngx.req.get_uri_args(100)) do
    if k:lower() == "api-version" then
      if found ~= nil then return false, "" end
      found = v
    end
  end
  if found == nil then return nil end
  if type(found) ~= "string" then return false, "" end
  return versions[found] and found or false, found
end

-- syntax: version, given = versions.check(route_type)
-- version: the request's api-version when route_type takes it; nil when there is
-- none; false (with what was given, "" for a repeated one) when it is not taken.
function _M.check(route_type)
  return api_version(LOOKUP_VERSIONS[route_type] or API_VERSIONS)
end

-- syntax: list = versions.supported(route_type)   as the 400's message names them
function _M.supported(route_type)
  return LOOKUP_SUPPORTED[route_type] or SUPPORTED
end

return _M
