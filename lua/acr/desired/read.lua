-- acr.desired.read — the text of a desired-state file as plain Lua values, with the
-- line of every key and list item beside them, for acr.desired.file to check.
--
--   local read = require "acr.desired.read"
--   value, marks = read.yaml(text)     -- or nil, problem
--   value, marks = read.json(text)
--
-- value: tables, strings, numbers, booleans, and acr.json.null for a null. marks is a
-- weak table: marks[t] = { line =, kind = "map"|"seq", lines = { [key] = line },
-- raw = { [key] = text } } for each table t of value (lines counted from 1), and
-- marks.root_line (the value's, also when it is not a table); raw holds
-- the text of a plain YAML scalar read as a number or a boolean, for a field whose
-- schema says text (a registry named 12345). problem = { line =, field =, message = },
-- line and field nil when unknown.
--
-- YAML goes through the event parser of Debian's lua-yaml (`require "yaml"`, the
-- low-level module of lyaml): its marks give the lines, and building the tree here
-- lets a duplicate key be an error (lyaml's own loader keeps the last one silently).
-- Plain scalars are read by the YAML 1.2 core schema (true/false, null/~, decimal
-- numbers), not YAML 1.1's (where yes, no, on and off are booleans). Anchors, aliases,
-- tags and more than one document are refused rather than half-supported.

local json = require "acr.json"

local _M = {}

local null = json.null
local MAX_DEPTH = 32   -- the schema is five deep; this bounds what a hostile file can nest

local has_yaml, yaml = pcall(require, "yaml")
if not (has_yaml and type(yaml) == "table" and yaml.parser) then yaml = nil end

local has_cjson, cjson_safe = pcall(require, "cjson.safe")
local cjson = has_cjson and cjson_safe.new() or nil
if cjson then cjson.decode_invalid_numbers(false) end   -- NaN, Infinity, 0x10: not JSON

-- Raised inside the builder, caught by its caller: the problem, no traceback.
local Problem = {}

local function problem(line, field, message)
  error(setmetatable({ line = line, field = field, message = message }, Problem), 0)
end

---------------------------------------------------------------------------
-- plain scalars (YAML 1.2 core schema)
---------------------------------------------------------------------------

local NULLS = { [""] = true, ["~"] = true, null = true, Null = true, NULL = true }
local BOOLS = { ["true"] = true, True = true, TRUE = true,
                ["false"] = false, False = false, FALSE = false }

local function plain_value(s)
  if NULLS[s] then return null end
  if BOOLS[s] ~= nil then return BOOLS[s] end
  -- decimal only: tonumber would also take "0x10" and " 1"
  if s:find("^[-+]?%.?%d[%d.eE+-]*$") then
    local n = tonumber(s)
    if n and n == n and n ~= math.huge and n ~= -math.huge then return n end
  end
  return s
end

---------------------------------------------------------------------------
-- the tree, from the parser's events
---------------------------------------------------------------------------

local function child_path(path, key)
  if type(key) == "number" then return path .. "[" .. key .. "]" end
  return path == "" and key or path .. "." .. key
end

local function line_of(ev)
  return ev.start_mark and ev.start_mark.line + 1 or nil
end

-- The field the next event of frame f is about: its pending key's, its next item's.
local function next_field(f)
  if not f then return nil end
  if f.kind == "seq" then return child_path(f.path, f.n + 1) end
  if f.key ~= nil then return child_path(f.path, f.key) end
  return f.path ~= "" and f.path or nil
end

-- What the builder cannot take: each says what to write instead.
local function refuse_unsupported(ev, f)
  if ev.type == "ALIAS" then
    problem(line_of(ev), next_field(f), "YAML aliases (*" .. tostring(ev.anchor) ..
      ") are not supported: write the value out")
  end
  if ev.anchor then
    problem(line_of(ev), next_field(f), "YAML anchors (&" .. tostring(ev.anchor) ..
      ") are not supported: write the value out")
  end
  if ev.tag then
    local tag = tostring(ev.tag):gsub("^tag:yaml%.org,2002:", "!!")
    problem(line_of(ev), next_field(f), "YAML tags (" .. tag ..
      ") are not supported: quote the value to make it text")
  end
end

-- A value event's Lua value: a scalar's, or a new table (marked) for a collection.
local function new_value(ev, marks, keep_raw)
  if ev.type == "SCALAR" then
    if ev.style ~= "PLAIN" then return ev.value end
    local v = plain_value(ev.value)
    return v, keep_raw and v ~= ev.value and v ~= null and ev.value or nil
  end
  local t = {}
  marks[t] = { line = line_of(ev), kind = ev.type == "MAPPING_START" and "map" or "seq",
               lines = {}, raw = {} }
  return t
end

-- Puts v into the collection of frame f (a map's pending key, or a list's next place),
-- with its line (a map's: its key's); returns v's path.
local function attach(f, marks, v, raw, line)
  local key = f.key
  if f.kind == "seq" then
    f.n = f.n + 1
    key = f.n
  else
    line = f.key_line
  end
  f.t[key] = v
  local m = marks[f.t]
  m.lines[key], m.raw[key] = line, raw
  f.key = nil
  return child_path(f.path, key)
end

-- A map's key: plain text, once.
local function take_key(f, ev, marks)
  local line = line_of(ev)
  if ev.type ~= "SCALAR" then
    problem(line, f.path ~= "" and f.path or nil, "a key must be text, not a list or a map")
  end
  local k = ev.value
  local first = marks[f.t].lines[k]
  if first then
    problem(line, child_path(f.path, k), "duplicate key (first at line " .. first .. ")")
  end
  marks[f.t].lines[k] = line   -- taken now, so a later twin is seen even while its value is read
  f.key, f.key_line = k, line
end

local function build(parser, keep_raw)
  local marks = setmetatable({}, { __mode = "k" })
  local stack, root, docs = {}, nil, 0
  for ev in parser do
    local ty, f = ev.type, stack[#stack]
    if ty == "DOCUMENT_START" then
      docs = docs + 1
      if docs > 1 then problem(line_of(ev), nil, "more than one YAML document (---)") end
    elseif ty == "MAPPING_END" or ty == "SEQUENCE_END" then
      stack[#stack] = nil
    elseif ty == "SCALAR" or ty == "MAPPING_START" or ty == "SEQUENCE_START" or ty == "ALIAS" then
      refuse_unsupported(ev, f)
      if f and f.kind == "map" and f.key == nil then
        take_key(f, ev, marks)
      else
        local v, raw = new_value(ev, marks, keep_raw)
        local path = f and attach(f, marks, v, raw, line_of(ev)) or ""
        if not f then root, marks.root_line = v, line_of(ev) end
        if type(v) == "table" then
          if #stack >= MAX_DEPTH then problem(line_of(ev), path, "nested too deeply") end
          stack[#stack + 1] = { t = v, kind = marks[v].kind, path = path, n = 0 }
        end
      end
    end
  end
  return root, marks
end

-- libyaml's "PROBLEM at document: 1, line: 2, column: 3\nwhile parsing … at line: …":
-- the problem and its line (absent from reader errors, which name no position).
local function syntax_problem(msg)
  msg = tostring(msg)
  local what = msg:match("^(.-) at document:") or msg:match("^[^\n]*")
  local line, col = msg:match("^[^\n]-line: (%d+), column: (%d+)")
  return { line = tonumber(line),
           message = "YAML syntax: " .. what .. (col and " (column " .. col .. ")" or "") }
end

-- value, marks | nil, problem
local function run(text, keep_raw)
  local parser = yaml.parser(text)
  -- the generic for calls its iterator with two arguments; lyaml's parser wants none
  local ok, root, marks = pcall(build, function() return parser() end, keep_raw)
  if ok and (root == nil or root == null) then return nil, { message = "is empty" } end
  if ok then return root, marks end
  if getmetatable(root) == Problem then return nil, root end
  return nil, syntax_problem(root)   -- the parser raised: the text is not YAML
end

-- syntax: value, marks = read.yaml(text)   -- or nil, problem
function _M.yaml(text)
  if not yaml then
    return nil, { message = "reading YAML needs Debian's lua-yaml (the yaml module of lyaml), "
      .. "which is not installed; give the file as JSON" }
  end
  return run(text, true)
end

---------------------------------------------------------------------------
-- JSON
---------------------------------------------------------------------------

local TOKEN = { T_OBJ_BEGIN = "'{'", T_OBJ_END = "'}'", T_ARR_BEGIN = "'['",
  T_ARR_END = "']'", T_STRING = "a string", T_NUMBER = "a number", T_BOOLEAN = "a boolean",
  T_NULL = "null", T_COLON = "':'", T_COMMA = "','", T_END = "the end of the text" }

-- lua-cjson's "Expected comma or object end but found T_END at character 34", with the
-- line and column of that character and its token names in words.
local function cjson_problem(text, msg)
  msg = tostring(msg)
  local at = tonumber(msg:match(" at character (%d+)$"))
  local what = msg:gsub(" at character %d+$", ""):gsub("T_[%u_]+", TOKEN)
  what = what:sub(1, 1):lower() .. what:sub(2)
  if not at then return { message = "JSON syntax: " .. what } end
  local before = text:sub(1, at - 1)
  local _, nl = before:gsub("\n", "")
  local col = at - (before:match(".*\n()") or 1) + 1
  return { line = nl + 1, message = ("JSON syntax: %s (column %d)"):format(what, col) }
end

-- Whether a (from libyaml) and b (from lua-cjson) are the same JSON value.
local function same(a, b)
  if type(a) ~= "table" or type(b) ~= "table" then return a == b end
  local n = 0
  for k, v in pairs(a) do
    if not same(v, b[k]) then return false end
    n = n + 1
  end
  for _ in pairs(b) do n = n - 1 end
  return n == 0
end

-- syntax: value, marks = read.json(text)   -- or nil, problem
-- lua-cjson is the judge of what is JSON (libyaml takes YAML's extras, such as a comma
-- before '}'). libyaml then reads it again for the lines, and its reading is used when it
-- is the same value; where it cannot read valid JSON (a \ud83d\ude00 pair, a key
-- over 1024 bytes) lua-cjson's is used, without lines. A duplicate key, which
-- lua-cjson keeps silently, is an error either way.
function _M.json(text)
  if not cjson then return nil, { message = "reading JSON needs lua-cjson" } end
  local v, err = cjson.decode(text)
  if err then return nil, cjson_problem(text, err) end
  if not yaml then return v, {} end
  local tree, marks = run(text, false)
  if tree ~= nil and same(tree, v) then return tree, marks end
  if tree == nil and marks.message:find("^duplicate key") then return nil, marks end
  return v, {}
end

return _M
