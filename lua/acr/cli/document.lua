-- acr.cli.document — the value a command prints, as JSON: ARM's document of it (ARM's
-- key order, the members ARM defines as arrays marked as such), its text, and the
-- kinds of the values in it, for the formats that render it otherwise.

local json = require "acr.json"

local set_of = require("acr.cli.values").set_of

local _M = {}

-- Lua cannot tell an empty array from an empty object: the members ARM defines as
-- arrays are arrays when empty.
local ARRAY_KEYS = set_of { "actions", "passwords", "certificates", "value", "details" }

-- ARM's key order (as the service and the emulator write them), by the key the
-- object is under ("" for the top); keys not listed come after, sorted.
local ARM_ORDER = {
  [""] = { "type", "id", "name", "systemData", "properties", "username", "passwords",
           "status", "request_id" },
  properties = { "description", "type", "creationDate", "provisioningState", "scopeMapId",
                 "objectId", "actions", "credentials", "status" },
  credentials = { "username", "certificates", "passwords" },
  passwords = { "creationTime", "expiry", "name", "value" },
  certificates = { "name", "expiry", "thumbprint" },
}
local ARM_RANK = {}
for parent, keys in pairs(ARM_ORDER) do
  ARM_RANK[parent] = {}
  for i, k in ipairs(keys) do ARM_RANK[parent][k] = i end
end

-- The objects that come from the service (not made by --query): tsv lists their
-- values by sorted key, as az does for a result's dicts.
local from_data = setmetatable({}, { __mode = "k" })

local function arm_keys(t, parent)
  local rank = ARM_RANK[parent] or ARM_RANK[""]
  local keys = json.sorted_keys(t)
  local big = #keys + 1000
  local pos = {}
  for i, k in ipairs(keys) do pos[k] = (rank[k] or big) * 10000 + i end
  table.sort(keys, function(a, b) return pos[a] < pos[b] end)
  return keys
end

-- Marks the plain tables of value (in place: to_table() gives a copy) as JSON
-- arrays and objects, objects with ARM's key order. parent: the key v is under.
local function mark(v, parent, as_array)
  if type(v) ~= "table" or getmetatable(v) ~= nil then return v end
  local kind = json.kind(v)
  if kind == "array" or (kind == "empty" and (as_array or ARRAY_KEYS[parent])) then
    for i = 1, #v do v[i] = mark(v[i], parent) end
    return json.array(v)
  end
  local keys = arm_keys(v, parent)
  for _, k in ipairs(keys) do
    local val = rawget(v, k)
    if val ~= nil then rawset(v, k, mark(val, k)) end
  end
  from_data[v] = true
  return json.object(v, keys)
end

-- syntax: doc = document.mark(value, as_array?)  -- value marked; as_array: an empty
-- value is []
function _M.mark(value, as_array)
  return mark(value, "", as_array)
end

-- syntax: bool = document.from_data(obj)  -- obj came from the service, through mark()
function _M.from_data(obj)
  return from_data[obj] == true
end

-- syntax: s = document.json_encode(v, as_array?)  -- as_array: an empty table is []
function _M.json_encode(v, as_array)
  return json.encode(v, { indent = 2, sort = true, array_keys = ARRAY_KEYS,
                          empty_array = as_array })
end

-- syntax: s = document.json_text(value, c1?)  -- -o json's text, a line; c1: escape C1 too
function _M.json_text(value, c1)
  return json.encode(value, { indent = 2, sort = true, array_keys = ARRAY_KEYS, c1 = c1 }) .. "\n"
end

-- syntax: bool = document.is_null(v)  -- nil, or JSON's null
function _M.is_null(v) return v == nil or v == json.null end

-- syntax: kind = document.kind_of(v)  -- json.kind's, an empty table an array, nil "null"
function _M.kind_of(v)
  local k = json.kind(v)
  if k == "empty" then return "array" end
  return k or "null"
end

return _M
