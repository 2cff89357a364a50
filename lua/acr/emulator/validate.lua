-- The checks of what a request gives: resource names, and the JSON bodies of PUT,
-- PATCH and generateCredentials. A failed check raises an error the dispatcher
-- answers 400 with ARM's code and message, so a handler reads as the happy path.

local json = require "acr.emulator.json"
local registry = require "acr.emulator.registry"
local actions_rule = require "acr.emulator.actions"

local _M = { _VERSION = "0.1.0" }

-- Name rules of the OpenAPI document (Lua patterns; %w is ASCII in the C locale).
local NAME_RULES = {
  registry = { pattern = "^[%w]+$", chars = "alphanumeric characters" },
  scopeMaps = { pattern = "^[%w_%-]+$", chars = "alphanumeric characters, hyphens and underscores" },
  tokens = { pattern = "^[%w%-]+$", chars = "alphanumeric characters and hyphens" },
}

local Invalid = {}   -- metatable of validation errors raised as { code, message }: answered 400

-- syntax: validate.invalid(code, message)   raises; the dispatcher answers it 400
function _M.invalid(code, message)
  error(setmetatable({ code = code, message = message }, Invalid), 0)
end
local invalid = _M.invalid

local function bad_content(path, expected)
  invalid("InvalidRequestContent", "The request content was invalid and could not be deserialized: "
    .. "'Error converting value at path '" .. path .. "': expected " .. expected .. ".'")
end

local function get(t, k)
  local v = t[k]
  if v == json.null then return nil end
  return v
end

-- syntax: validate.check_name(what, name)   what "registry" | "scopeMaps" | "tokens"
function _M.check_name(what, name)
  local rule = NAME_RULES[what]
  if #name < 5 or #name > 50 or not name:find(rule.pattern) then
    invalid("InvalidResourceName", string.format(
      "The resource name '%s' is invalid. The %s name must be between 5 and 50 characters long and may contain only %s.",
      name, what == "scopeMaps" and "scope map" or what == "tokens" and "token" or "registry", rule.chars))
  end
end

-- syntax: body = validate.read_body()   the request's JSON object
function _M.read_body()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    local path = ngx.req.get_body_file()
    local f = path and io.open(path, "rb")
    if f then
      body = f:read("*a")
      f:close()
    end
  end
  if not body or body:find("^%s*$") then
    invalid("InvalidRequestContent", "The request content was invalid and could not be deserialized: 'The request body is empty.'")
  end
  local v, err = json.decode(body)
  if v == nil then
    invalid("InvalidRequestContent", "The request content was invalid and could not be deserialized: '"
      .. tostring(err) .. "'.")
  end
  if type(v) ~= "table" or not json.is_object(v) then
    invalid("InvalidRequestContent", "The request content was invalid and could not be deserialized: 'The request body must be a JSON object.'")
  end
  return v
end

local function opt_string(t, k, path)
  local v = get(t, k)
  if v ~= nil and type(v) ~= "string" then bad_content(path, "a string") end
  return v
end

local function properties(body, required)
  local props = get(body, "properties")
  if props == nil then
    if required then invalid("InvalidParameter", "The 'properties' member is required.") end
    return {}
  end
  if type(props) ~= "table" or not json.is_object(props) then bad_content("properties", "an object") end
  return props
end

local function is_datetime(s)
  return s:find("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d") ~= nil
end

-- syntax: v = validate.check_scope_map(body, is_patch)   { actions?, description? }
function _M.check_scope_map(body, is_patch)
  local props = properties(body, not is_patch)
  local out = {}
  local actions = get(props, "actions")
  if actions == nil then
    if not is_patch then invalid("InvalidParameter", "The 'properties.actions' member is required.") end
  else
    if type(actions) ~= "table" or not json.is_array(actions) then
      bad_content("properties.actions", "an array of strings")
    end
    if #actions == 0 then
      invalid("InvalidParameter", "The 'properties.actions' list must contain at least one action.")
    end
    out.actions = {}
    for i, a in ipairs(actions) do
      if type(a) ~= "string" then bad_content("properties.actions[" .. (i - 1) .. "]", "a string") end
      if a == "" then invalid("InvalidParameter", "Scope map actions must not be empty strings.") end
      if not actions_rule.valid(a) then
        invalid("InvalidParameter", "The scope map action '" .. a .. "' is invalid. Actions are "
          .. "repositories/<repository>/content/read|write|delete or metadata/read|write, or "
          .. "gateway/<connected registry>/config|message/read|write.")
      end
      out.actions[i] = a
    end
  end
  out.description = opt_string(props, "description", "properties.description")
  return out
end

local function check_credentials(props)
  local creds = get(props, "credentials")
  if creds == nil then return nil end
  if type(creds) ~= "table" or not json.is_object(creds) then bad_content("properties.credentials", "an object") end
  local out = { passwords = {}, certificates = {}, given = {} }
  local function list(key, names, fields)
    local items = get(creds, key)
    if items == nil then return end
    out.given[key] = true
    local path = "properties.credentials." .. key
    if type(items) ~= "table" or not json.is_array(items) then bad_content(path, "an array") end
    for i, item in ipairs(items) do
      local ipath = path .. "[" .. (i - 1) .. "]"
      if type(item) ~= "table" or not json.is_object(item) then bad_content(ipath, "an object") end
      local name = opt_string(item, "name", ipath .. ".name")
      if not names[name] then
        invalid("InvalidParameter", "'" .. ipath .. ".name' must be one of " .. names[1] .. ", " .. names[2] .. ".")
      end
      local entry = {}
      for _, f in ipairs(fields) do
        entry[f] = opt_string(item, f, ipath .. "." .. f)
      end
      if entry.expiry and not is_datetime(entry.expiry) then
        invalid("InvalidParameter", "'" .. ipath .. ".expiry' is not a valid date-time.")
      end
      out[key][name] = entry
    end
  end
  list("passwords", { "password1", "password2", password1 = true, password2 = true }, { "expiry" })
  list("certificates", { "certificate1", "certificate2", certificate1 = true, certificate2 = true },
    { "expiry", "thumbprint", "encodedPemCertificate" })
  return out
end

-- syntax: v = validate.check_token(reg, body, is_patch)
-- v: { scope_map_id?, status?, object_id?, credentials? }
function _M.check_token(reg, body, is_patch)
  local props = properties(body, not is_patch)
  local out = {}
  local smid = get(props, "scopeMapId")
  if smid == nil then
    if not is_patch then invalid("InvalidParameter", "The 'properties.scopeMapId' member is required.") end
  else
    if type(smid) ~= "string" then bad_content("properties.scopeMapId", "a string") end
    local key = registry.local_id(reg, smid, "scopeMaps")
    if not key or not reg.scopeMaps[key] then
      invalid("InvalidParameter", "The scope map '" .. smid .. "' given as scopeMapId does not exist in registry '"
        .. reg.name .. "'.")
    end
    out.scope_map_id = smid
  end
  local status = opt_string(props, "status", "properties.status")
  if status ~= nil then
    status = status:lower()
    if status ~= "enabled" and status ~= "disabled" then
      invalid("InvalidParameter", "'properties.status' must be 'enabled' or 'disabled'.")
    end
    out.status = status
  end
  out.object_id = opt_string(props, "objectId", "properties.objectId")
  out.credentials = check_credentials(props)
  return out
end

-- syntax: req = validate.check_generate(reg, body)   the body of generateCredentials
-- req: { key, token_name (as tokenId spells it), name? ("password1" | "password2"), expiry? }
function _M.check_generate(reg, body)
  local token_id = get(body, "tokenId")
  if token_id == nil then invalid("InvalidParameter", "The 'tokenId' member is required.") end
  if type(token_id) ~= "string" then bad_content("tokenId", "a string") end
  local name = opt_string(body, "name", "name")
  if name ~= nil and name ~= "password1" and name ~= "password2" then
    invalid("InvalidParameter", "'name' must be 'password1' or 'password2'.")
  end
  local expiry = opt_string(body, "expiry", "expiry")
  if expiry ~= nil and not is_datetime(expiry) then
    invalid("InvalidParameter", "'expiry' is not a valid date-time.")
  end
  local key, tname = registry.local_id(reg, token_id, "tokens")
  if not key then
    invalid("InvalidParameter", "'tokenId' must be the resource id of a token of registry '" .. reg.name .. "'.")
  end
  return { key = key, token_name = tname, name = name, expiry = expiry }
end

-- syntax: yes = validate.is_invalid(err)   err raised by a check: answer 400
function _M.is_invalid(err)
  return getmetatable(err) == Invalid
end

return _M
