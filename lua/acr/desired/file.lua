-- acr.desired.file — a desired-state file (YAML or JSON) read, checked and normalised
-- into the one shape the plan reads; docs/DESIRED.md describes the format.
--
--   local file = require "acr.desired.file"
--   d, err = file.load(path)                  -- format by extension (.json, else YAML)
--   d, err = file.parse(text, name?, format?) -- format "yaml" | "json"
--   d, err = file.check(tbl, name?)           -- a Lua table as a script would write it
--
-- An invalid file is `nil, err`: an acr.Error with code "InvalidDesiredState", file,
-- line (when known), field (registries[1].tokens.app-ci.passwords.lifetime) and a
-- one-line message "FILE:LINE: FIELD: what is wrong". Misuse (a path that is not a
-- string) raises, as acr.check shapes it. Names and actions are checked by the core's
-- own rules (acr._valid_name, acr._valid_action), subscription ids as the command line
-- checks them (acr.check.is_guid), durations by acr.time.

local acr = require "acr"
local check = require "acr.check"
local json = require "acr.json"
local time = require "acr.time"
local read = require "acr.desired.read"

local _M = { _VERSION = "0.1.0" }

local null = json.null
local DAY = 86400
local MAX_DURATION = 36500 * DAY   -- a hundred years: beyond it an expiry is not a date

---------------------------------------------------------------------------
-- errors
---------------------------------------------------------------------------

-- Raised inside the checks and caught by check_value: where and what, no traceback.
local Invalid = {}

local function invalid(line, field, what)
  error(setmetatable({ line = line, field = field, what = what }, Invalid), 0)
end

local ESCAPES = { ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

-- A message stays on one line and printable whatever the file holds.
local function one_line(s)
  return (s:gsub("%c", function(c) return ESCAPES[c] or ("\\x%02x"):format(c:byte()) end))
end

-- A value from the file, quoted and bounded, for a message.
local function show(v)
  local s = tostring(v)
  if #s > 60 then s = s:sub(1, 57) .. "..." end
  return "'" .. s .. "'"
end

local function new_error(file, line, field, what)
  local msg = file .. (line and ":" .. line or "") .. ": " .. (field and field .. ": " or "") .. what
  local err = acr.error("InvalidDesiredState", one_line(msg))
  err.file, err.line, err.field = file, line, field
  return err
end

---------------------------------------------------------------------------
-- reading the tree: ctx = { marks = read's marks or {} }
---------------------------------------------------------------------------

-- The line of key k of table t, else of t itself (nil for a script's tables).
local function line_of(ctx, t, k)
  local m = ctx.marks[t]
  if not m then return nil end
  return k ~= nil and m.lines[k] or m.line
end

local function fail(ctx, t, k, field, what)
  invalid(line_of(ctx, t, k), field, what)
end

local function join(path, key)
  if type(key) == "number" then return path .. "[" .. key .. "]" end
  return path == "" and tostring(key) or path .. "." .. tostring(key)
end

-- t[k], with a null (YAML `key:` with nothing after it, JSON null) read as absent.
local function get(t, k)
  local v = t[k]
  if v == null then return nil end
  return v
end

local function type_name(v)
  if v == null then return "null" end
  if type(v) == "table" then return "a table" end
  return type(v) == "string" and "text" or "a " .. type(v)
end

-- A YAML file says what it read a table as; a script's table is a list when its keys
-- are 1..n (an empty table is both).
local function kind_ok(ctx, v, want)
  if type(v) ~= "table" or v == null then return false end
  local m = ctx.marks[v]
  if m and m.kind then return m.kind == want end
  local n = 0
  for k in pairs(v) do
    n = n + 1
    if (want == "seq") ~= (type(k) == "number") then return false end
  end
  return want == "map" or #v == n
end

-- The keys of map t in the file's order (a script's: by name), for stable messages.
local function keys_of(ctx, t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    local la, lb = line_of(ctx, t, a) or 0, line_of(ctx, t, b) or 0
    if la ~= lb then return la < lb end
    return tostring(a) < tostring(b)
  end)
  return keys
end

-- Unknown keys are errors: a typo would otherwise be ignored.
local function only_keys(ctx, t, path, allowed)
  for _, k in ipairs(keys_of(ctx, t)) do
    if not allowed.has[k] then
      fail(ctx, t, k, join(path, k), "unknown key (known: " .. allowed.text .. ")")
    end
  end
end

local function keyset(list)
  local has = {}
  for _, k in ipairs(list) do has[k] = true end
  return { has = has, text = table.concat(list, ", ") }
end

-- t[k] as a map (nil when absent): what names what it should hold, for the message.
local function map_at(ctx, t, k, path, what)
  local v = get(t, k)
  if v ~= nil and not kind_ok(ctx, v, "map") then
    fail(ctx, t, k, path, "must be a map of " .. what .. ", not " ..
      (kind_ok(ctx, v, "seq") and "a list" or type_name(v)))
  end
  return v
end

-- Text: a plain YAML scalar the schema reads as text is taken as written (a registry
-- named 12345, a resource group 2024).
local function text_at(ctx, t, k, path, required)
  local v = get(t, k)
  if v == nil then
    if required then fail(ctx, t, nil, path, "is required") end
    return nil
  end
  local m = ctx.marks[t]
  if type(v) ~= "string" and m and m.raw[k] then v = m.raw[k] end
  if type(v) ~= "string" then fail(ctx, t, k, path, "must be text, not " .. type_name(v)) end
  return v
end

local YAML11_BOOLS = { y = true, n = true, yes = true, no = true, on = true, off = true }

local function boolean_at(ctx, t, k, path, default)
  local v = get(t, k)
  if v == nil then return default end
  if type(v) ~= "boolean" then
    local hint = type(v) == "string" and YAML11_BOOLS[v:lower()] and
      " (YAML 1.1's yes, no, on and off are text here)" or ""
    fail(ctx, t, k, path, "must be true or false, not " .. type_name(v) .. hint)
  end
  return v
end

-- Whole numbers as integers on Lua 5.4 (lua-cjson reads every number as a float).
local function whole(n)
  if n == math.floor(n) then return math.floor(n) end
  return n
end

-- A duration: acr.time's forms; 0 may be written bare (a bare 90 would be a unit short).
local function duration_at(ctx, t, k, path)
  local v = get(t, k)
  if v == nil then return nil end
  if v == 0 then return 0 end
  if type(v) == "number" then
    fail(ctx, t, k, path, "a bare number has no unit: write a duration such as 30d, 12h or P30D")
  end
  local s, err = time.duration(v)
  if not s then fail(ctx, t, k, path, one_line(err)) end
  if s > MAX_DURATION then fail(ctx, t, k, path, "must be at most 36500d (100 years)") end
  return whole(s)
end

---------------------------------------------------------------------------
-- names
---------------------------------------------------------------------------

local NAME_RULE = {
  registry = "a registry name (5 to 50 letters and digits)",
  resource_group = "a resource group name (1 to 90 letters, digits, '-', '_', '.', '(' and "
    .. "')', not ending in '.')",
  scope_map = "a scope map name (5 to 50 letters, digits, '-' and '_')",
  token = "a token name (5 to 50 letters, digits and '-')",
}

local function check_name(ctx, kind, s, t, k, path)
  if not acr._valid_name(kind, s) then
    fail(ctx, t, k, path, show(s) .. " is not " .. NAME_RULE[kind])
  end
  return s
end

-- ARM's names are not case-sensitive: App-Pull and app-pull are one scope map.
local function case_key(s)
  return s:lower()
end

---------------------------------------------------------------------------
-- the schema
---------------------------------------------------------------------------

local TOP_KEYS = keyset { "registries" }
local REGISTRY_KEYS = keyset { "subscription", "resource_group", "name", "prune", "scope_maps",
                               "tokens" }
local SCOPE_MAP_KEYS = keyset { "actions", "description" }
local TOKEN_KEYS = keyset { "scope_map", "status", "passwords" }
local PASSWORD_KEYS = keyset { "slots", "lifetime", "rotate_before", "retire_after" }

local ACTION_RULE = "is not a scope map action (repositories/REPO/content/read|write|delete or "
  .. "metadata/read|write, gateway/NAME/config|message/read|write)"

-- A non-empty list, compared as a set by the plan: sorted, each once.
local function actions_at(ctx, e, path)
  local list = get(e, "actions")
  if list == nil then fail(ctx, e, nil, path, "is required") end
  if not kind_ok(ctx, list, "seq") or #list == 0 then
    fail(ctx, e, "actions", path, "must be a non-empty list of scope map actions")
  end
  local seen, out = {}, {}
  for i, a in ipairs(list) do
    if type(a) ~= "string" then
      fail(ctx, list, i, join(path, i), "must be text, not " .. type_name(a))
    end
    if not acr._valid_action(a) then fail(ctx, list, i, join(path, i), show(a) .. " " .. ACTION_RULE) end
    if not seen[a] then seen[a], out[#out + 1] = true, a end
  end
  table.sort(out)
  return json.array(out)
end

local function scope_map(ctx, maps, name, path)
  if case_key(name):find("^_repositories_") then
    fail(ctx, maps, name, path, "is a system scope map, ARM's own: it cannot be listed here "
      .. "(a token may still name it as its scope_map)")
  end
  check_name(ctx, "scope_map", name, maps, name, path)
  local e = map_at(ctx, maps, name, path, "actions and description")
  if e == nil then fail(ctx, maps, name, path .. ".actions", "is required") end
  only_keys(ctx, e, path, SCOPE_MAP_KEYS)
  return { name = name, actions = actions_at(ctx, e, path .. ".actions"),
           description = text_at(ctx, e, "description", path .. ".description"),
           line = line_of(ctx, maps, name) }
end

-- The password policy, with its defaults; nil when the file leaves passwords alone.
local function passwords_at(ctx, e, path)
  local p = map_at(ctx, e, "passwords", path, "slots, lifetime, rotate_before and retire_after")
  if p == nil then return nil end
  only_keys(ctx, p, path, PASSWORD_KEYS)
  local slots = get(p, "slots")
  if slots == nil then slots = 1 end
  if slots ~= 1 and slots ~= 2 then
    fail(ctx, p, "slots", path .. ".slots", "must be 1 or 2, not " ..
      (type(slots) == "number" and tostring(slots) or type_name(slots)))
  end
  local lifetime = duration_at(ctx, p, "lifetime", path .. ".lifetime")
  if lifetime == 0 then fail(ctx, p, "lifetime", path .. ".lifetime", "must be longer than 0s") end
  local rotate = duration_at(ctx, p, "rotate_before", path .. ".rotate_before")
  if rotate and lifetime and rotate >= lifetime then
    fail(ctx, p, "rotate_before", path .. ".rotate_before", "must be shorter than lifetime ("
      .. time.span(lifetime) .. "), or every new password would be rotated at once")
  end
  if rotate == nil then rotate = lifetime and math.floor(lifetime / 3) or 0 end
  return { slots = whole(slots), lifetime = lifetime, rotate_before = rotate,
           retire_after = duration_at(ctx, p, "retire_after", path .. ".retire_after") or DAY }
end

local function token(ctx, tokens, name, path)
  check_name(ctx, "token", name, tokens, name, path)
  local e = map_at(ctx, tokens, name, path, "scope_map, status and passwords")
  if e == nil then fail(ctx, tokens, name, path .. ".scope_map", "is required") end
  only_keys(ctx, e, path, TOKEN_KEYS)
  local sm = text_at(ctx, e, "scope_map", path .. ".scope_map", true)
  check_name(ctx, "scope_map", sm, e, "scope_map", path .. ".scope_map")
  local status = text_at(ctx, e, "status", path .. ".status")
  if status and status ~= "enabled" and status ~= "disabled" then
    fail(ctx, e, "status", path .. ".status", "must be enabled or disabled, not " .. show(status))
  end
  return { name = name, scope_map = sm, status = status,
           passwords = passwords_at(ctx, e, path .. ".passwords"),
           line = line_of(ctx, tokens, name) }
end

-- scope_maps or tokens: a map of name -> entry, as a list sorted by name.
local function named(ctx, r, key, path, what, entry)
  local m = map_at(ctx, r, key, path, what)
  local out, seen = {}, {}
  for _, name in ipairs(m and keys_of(ctx, m) or {}) do
    local at = join(path, name)
    if type(name) ~= "string" then fail(ctx, m, name, at, "a name must be text") end
    local first = seen[case_key(name)]
    if first then
      fail(ctx, m, name, at, "the same name as " .. show(first) .. " (ARM's names are not "
        .. "case-sensitive)")
    end
    seen[case_key(name)] = name
    out[#out + 1] = entry(ctx, m, name, at)
  end
  table.sort(out, function(a, b) return a.name < b.name end)
  return json.array(out)   -- so that an empty one is written [] by acr.json
end

local function registry(ctx, list, i, path)
  local r = get(list, i)
  if not kind_ok(ctx, r, "map") then
    fail(ctx, list, i, path, "must be a map (subscription, resource_group, name, …), not "
      .. (kind_ok(ctx, r, "seq") and "a list" or type_name(r)))
  end
  only_keys(ctx, r, path, REGISTRY_KEYS)
  local sub = text_at(ctx, r, "subscription", path .. ".subscription", true)
  if not check.is_guid(sub) then
    fail(ctx, r, "subscription", path .. ".subscription", show(sub)
      .. " is not a subscription id (a GUID: 11111111-2222-3333-4444-555555555555)")
  end
  local rg = text_at(ctx, r, "resource_group", path .. ".resource_group", true)
  check_name(ctx, "resource_group", rg, r, "resource_group", path .. ".resource_group")
  local name = text_at(ctx, r, "name", path .. ".name", true)
  check_name(ctx, "registry", name, r, "name", path .. ".name")
  return { subscription = sub, resource_group = rg, name = name,
           prune = boolean_at(ctx, r, "prune", path .. ".prune", false),
           scope_maps = named(ctx, r, "scope_maps", path .. ".scope_maps", "name to scope map",
                              scope_map),
           tokens = named(ctx, r, "tokens", path .. ".tokens", "name to token", token),
           line = line_of(ctx, list, i) }
end

-- The same registry twice would be planned twice, its changes racing each other.
local function no_twins(ctx, list, regs)
  local seen = {}
  for i, r in ipairs(regs) do
    local k = table.concat({ r.subscription, r.resource_group, r.name }, "/"):lower()
    if seen[k] then
      local first = regs[seen[k]].line
      fail(ctx, list, i, "registries[" .. i .. "]", "the same registry as registries[" .. seen[k]
        .. "]" .. (first and " (line " .. first .. ")" or ""))
    end
    seen[k] = i
  end
end

local function document(ctx, doc)
  if not kind_ok(ctx, doc, "map") then
    invalid(ctx.marks.root_line, nil, "must be a map with the key registries, not "
      .. (kind_ok(ctx, doc, "seq") and "a list" or type_name(doc)))
  end
  only_keys(ctx, doc, "", TOP_KEYS)
  local list = get(doc, "registries")
  if list == nil then invalid(line_of(ctx, doc), "registries", "is required") end
  if not kind_ok(ctx, list, "seq") or #list == 0 then
    fail(ctx, doc, "registries", "registries", "must be a non-empty list of registries")
  end
  local regs = {}
  for i = 1, #list do regs[i] = registry(ctx, list, i, "registries[" .. i .. "]") end
  no_twins(ctx, list, regs)
  return regs
end

-- What load, parse and check return is marked, so the plan can tell it from a table
-- a script wrote in the file's form.
local CHECKED = { __name = "acr.DesiredState" }

-- syntax: bool = file.is_checked(v)  -- v is what load, parse or check returned
function _M.is_checked(v) return getmetatable(v) == CHECKED end

-- d | nil, err; a failure that is not the file's (a bug here) is raised as it is.
local function check_value(value, marks, name)
  local ctx = { marks = marks or {} }
  local ok, res = pcall(document, ctx, value)
  if ok then return setmetatable({ file = name, registries = json.array(res) }, CHECKED) end
  if getmetatable(res) ~= Invalid then error(res, 0) end
  return nil, new_error(name, res.line, res.field, res.what)
end

---------------------------------------------------------------------------
-- the API
---------------------------------------------------------------------------

local function opt_name(fname, n, name, dflt)
  if name ~= nil and type(name) ~= "string" then check.typeerror(fname, n, "string", name, 2) end
  return name or dflt
end

-- syntax: d, err = file.check(tbl, name?)
function _M.check(tbl, name)
  if type(tbl) ~= "table" then check.typeerror("acr.desired.file.check", 1, "table", tbl) end
  return check_value(tbl, nil, opt_name("acr.desired.file.check", 2, name, "(desired state)"))
end

local BOM = "\239\187\191"

local function parse(text, name, format)
  if text:sub(1, 3) == BOM then text = text:sub(4) end   -- libyaml takes one, lua-cjson not
  if not text:find("%S") then return nil, new_error(name, nil, nil, "is empty") end
  local value, marks = read[format](text)
  if value == nil then
    return nil, new_error(name, marks.line, marks.field, one_line(marks.message))
  end
  return check_value(value, marks, name)
end

local function format_of(name)
  return name:lower():find("%.json$") and "json" or "yaml"
end

-- syntax: d, err = file.parse(text, name?, format?)
-- format: "yaml" or "json"; without it, name's extension decides (.json, else YAML).
function _M.parse(text, name, format)
  local fname = "acr.desired.file.parse"
  if type(text) ~= "string" then check.typeerror(fname, 1, "string", text) end
  name = opt_name(fname, 2, name, "(desired state)")
  if format ~= nil and format ~= "yaml" and format ~= "json" then
    check.argerror(fname, 3, "format must be 'yaml' or 'json', got " .. show(format))
  end
  return parse(text, name, format or format_of(name))
end

-- syntax: d, err = file.load(path)   -- blocking (reads the file)
function _M.load(path)
  if type(path) ~= "string" then check.typeerror("acr.desired.file.load", 1, "string", path) end
  local f, err = io.open(path, "rb")
  local text
  if f then
    text, err = f:read("*a")
    f:close()
  end
  if not text then
    -- io.open's message starts with the path, which the error names already
    local why = tostring(err):gsub("^" .. path:gsub("%p", "%%%0") .. ": ", "")
    return nil, new_error(path, nil, nil, "cannot be read: " .. why)
  end
  return parse(text, path, format_of(path))
end

return _M
