-- acr.cli.yaml — -o yaml's text: libyaml's emitter (from Debian's lua-yaml), fed so
-- that it writes what az's yaml.safe_dump writes.

local document = require "acr.cli.document"
local fail = require "acr.cli.fail"
local json = require "acr.json"

local kind_of = document.kind_of

local _M = {}

-- Strings YAML 1.1 would read as something else are quoted: booleans, null,
-- numbers, timestamps (PyYAML's resolver); libyaml quotes the rest that need it.
local function looks_typed(s)
  local l = s:lower()
  if s == "" or s == "~" or l == "null" or l == "true" or l == "false" or l == "yes"
    or l == "no" or l == "on" or l == "off" then return true end
  if s:find("^[-+]?[%d_]+$") or s:find("^[-+]?0[xob]%x+$") then return true end
  if s:find("^[-+]?[%d_]*%.[%d_]*$") and s:find("%d")
    or s:find("^[-+]?[%d_]*%.?[%d_]*[eE][-+]?%d+$") and s:find("^[-+]?[%d_]*%.?%d") then
    return true
  end
  if l == ".inf" or l == "-.inf" or l == "+.inf" or l == ".nan" then return true end
  if s:find("^%d%d%d%d%-%d%d?%-%d%d?$") or s:find("^%d%d%d%d%-%d%d?%-%d%d?[Tt ]") then
    return true
  end
  if s:find("^[-+]?%d[%d_]*:[0-5]?%d") then return true end   -- sexagesimal
  return false
end

local function yaml_scalar(v)
  local k = kind_of(v)
  local ev = { type = "SCALAR", plain_implicit = true, quoted_implicit = true, style = "PLAIN" }
  if k == "null" then ev.value = "null"
  elseif k == "boolean" then ev.value = v and "true" or "false"
  elseif k == "number" then
    ev.value = (v ~= v and ".nan") or (v == math.huge and ".inf")
      or (v == -math.huge and "-.inf") or json.number(v)
  else
    ev.value = v
    if looks_typed(v) then ev.style = "SINGLE_QUOTED" end
  end
  return ev
end

local function yaml_events(v, emit)
  local k = kind_of(v)
  if k == "array" then
    emit { type = "SEQUENCE_START", style = #v == 0 and "FLOW" or "BLOCK" }
    for i = 1, #v do yaml_events(v[i], emit) end
    emit { type = "SEQUENCE_END" }
  elseif k == "object" then
    local keys = json.sorted_keys(v)
    emit { type = "MAPPING_START", style = #keys == 0 and "FLOW" or "BLOCK" }
    for _, key in ipairs(keys) do
      emit(yaml_scalar(key))
      yaml_events(rawget(v, key), emit)
    end
    emit { type = "MAPPING_END" }
  else
    emit(yaml_scalar(v))
  end
end

-- syntax: s = yaml.text(value)  -- a failure (exit 1) when lua-yaml is not installed
function _M.text(v)
  local ok, yaml = pcall(require, "yaml")
  if not ok or type(yaml) ~= "table" or not yaml.emitter then
    fail.failure("-o yaml needs Debian's lua-yaml (the yaml module of lyaml): it is not installed")
  end
  local e = yaml.emitter()
  local function emit(ev)
    local good, res = e.emit(ev)
    if not good then error("yaml: " .. tostring(res), 0) end
    return res
  end
  emit { type = "STREAM_START", encoding = "UTF8" }
  emit { type = "DOCUMENT_START", implicit = true }
  yaml_events(v, emit)
  emit { type = "DOCUMENT_END", implicit = true }
  local s = emit { type = "STREAM_END" }
  -- PyYAML ends a document that is a plain scalar with "..."
  local k = kind_of(v)
  if k ~= "array" and k ~= "object" and not s:find("^['\"]") and not s:find("\n.") then
    s = s .. "...\n"
  end
  return s
end

return _M
