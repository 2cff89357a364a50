-- acr.cli.output — what a command prints on stdout: the value (ARM's document of
-- it), filtered by --query (JMESPath), in a format (-o json|jsonc|yaml|yamlc|table|
-- tsv|none), and whether it was delivered.
--
-- emit(o, kind, value) is the one way out: it notes generated passwords, applies
-- the query, then formats what is left, after az's rules (knack's output.py).

local document = require "acr.cli.document"
local fail = require "acr.cli.fail"
local json = require "acr.json"
local jmespath = require "acr.jmespath"

local printable = fail.printable

local _M = {}

local set_of = require("acr.cli.values").set_of
local is_null, kind_of = document.is_null, document.kind_of

---------------------------------------------------------------------------
-- delivery
---------------------------------------------------------------------------

-- What became of the output: closed (stdout was closed at the start: its reason), err
-- (the first write that failed: its reason), secrets (the token whose generated
-- passwords the output holds). Set anew by start().
local state = {}

-- The reason stdout cannot be written to, when its descriptor is closed (acr >&-):
-- nothing may be written then, as the descriptor may come to be a socket's.
local function stdout_closed()
  local pos, err, code = io.stdout:seek("cur")
  if pos == nil and code == 9 then return err or "Bad file descriptor" end -- EBADF
end

-- syntax: output.start()  -- before a command line runs
function _M.start()
  state = { closed = stdout_closed() }
end

-- syntax: reason = output.closed()  -- stdout was closed at the start
function _M.closed()
  return state.closed
end

-- syntax: output.refuse()  -- nothing will be asked: its answer could not be delivered
function _M.refuse()
  state.err = state.closed
end

-- syntax: output.out(s)  -- writes s, unless a write failed before
function _M.out(s)
  if state.err then return end
  if state.closed then state.err = state.closed; return end
  local ok, err = io.stdout:write(s)
  if not ok then state.err = err end
end
local out = _M.out

-- syntax: code = output.finish(code, prog)  -- flushes; a failed delivery makes 0 into 1
function _M.finish(code, prog)
  if not state.err and not state.closed then
    local ok, err = io.stdout:flush()
    if not ok then state.err = err end
  end
  if not state.err then return code end
  io.stderr:write(prog, ": cannot write the output: ", tostring(state.err), "\n")
  if state.secrets then
    io.stderr:write(prog, ": the new passwords of token '", state.secrets, "' were generated but "
      .. "not delivered: generate them again (acr token credential generate -n ", state.secrets,
      ")\n")
  end
  return code == 0 and 1 or code
end

-- syntax: output.warn(o, msg)  -- "WARNING: msg" on stderr, unless --only-show-errors
function _M.warn(o, msg)
  if o["only-show-errors"] then return end
  io.stderr:write("WARNING: ", printable(msg), "\n")
end

-- syntax: output.debug(o, msg)  -- a decision of the command, on stderr with --debug
function _M.debug(o, msg)
  if o.debug then io.stderr:write("acr: debug: ", printable(msg), "\n") end
end

---------------------------------------------------------------------------
-- table and tsv: the columns of each kind of value
---------------------------------------------------------------------------

-- A value from the service or a user, for a terminal: control characters (C0, DEL,
-- and C1 as UTF-8) become spaces, so that no escape sequence reaches the terminal.
local function cell(v)
  if v == nil then return "" end
  return printable(v)
end

local function cells(headers, r)
  local c = {}
  for k = 1, #headers do c[k] = cell(r[k]) end
  return c
end

local function print_tsv(headers, rows)
  for _, r in ipairs(rows) do out(table.concat(cells(headers, r), "\t") .. "\n") end
end

local function print_table(headers, rows)
  if #rows == 0 then return end
  local width = {}
  for k, h in ipairs(headers) do width[k] = #h end
  for _, r in ipairs(rows) do
    for k = 1, #headers do width[k] = math.max(width[k], #cell(r[k])) end
  end
  local function line(vals)
    local c = {}
    for k = 1, #headers do
      c[k] = k == #headers and vals[k] or (vals[k] .. (" "):rep(width[k] - #vals[k]))
    end
    return (table.concat(c, "  "):gsub("%s+$", "")) .. "\n"
  end
  local dashes = {}
  for k = 1, #headers do dashes[k] = ("-"):rep(width[k]) end
  out(line(headers))
  out(line(dashes))
  for _, r in ipairs(rows) do out(line(cells(headers, r))) end
end

local function print_rows(o, headers, rows)
  if o.output == "tsv" then return print_tsv(headers, rows) end
  print_table(headers, rows)
end

local SM_HEADERS = { "NAME", "TYPE", "CREATION DATE", "DESCRIPTION" }
local function sm_row(t)
  local p = t.properties or {}
  return { t.name, p.type, p.creationDate, p.description }
end

local TOKEN_HEADERS = { "NAME", "SCOPE MAP", "STATUS", "PASSWORD1 EXPIRY", "PASSWORD2 EXPIRY",
                        "PROVISIONING STATE", "CREATION DATE" }
local function token_row(t)
  local p = t.properties or {}
  local exp = {}
  for _, pw in ipairs((p.credentials or {}).passwords or {}) do
    if pw.name then exp[pw.name] = pw.expiry or "never" end
  end
  return { t.name, (p.scopeMapId or ""):match("[^/]*$"), p.status, exp.password1, exp.password2,
           p.provisioningState, p.creationDate }
end

local CRED_HEADERS = { "USERNAME", "PASSWORD", "VALUE", "EXPIRY", "CREATION TIME" }
local function cred_rows(c)
  local rows = {}
  for _, pw in ipairs(c.passwords or {}) do
    rows[#rows + 1] = { c.username, pw.name, pw.value, pw.expiry, pw.creationTime }
  end
  return rows
end

local function rows_of(row, list)
  local rows = {}
  for i, t in ipairs(list) do rows[i] = row(t) end
  return rows
end

-- kind -> function(o, value) printing it as rows
local ROWS = {
  scope_map = function(o, v) print_rows(o, SM_HEADERS, { sm_row(v) }) end,
  scope_maps = function(o, v) print_rows(o, SM_HEADERS, rows_of(sm_row, v)) end,
  token = function(o, v) print_rows(o, TOKEN_HEADERS, { token_row(v) }) end,
  tokens = function(o, v) print_rows(o, TOKEN_HEADERS, rows_of(token_row, v)) end,
  credentials = function(o, v) print_rows(o, CRED_HEADERS, cred_rows(v)) end,
  token_created = function(o, v)
    print_rows(o, TOKEN_HEADERS, { token_row(v) })
    local creds = v.properties and v.properties.credentials
    if creds and creds.username then
      if o.output == "table" then out("\n") end
      print_rows(o, CRED_HEADERS, cred_rows(creds))
    end
  end,
  operation = function(o, v)
    print_rows(o, { "STATUS", "REQUEST ID" }, { { v.status, v.request_id } })
  end,
}

-- syntax: output.print_rows(o, headers, rows)  -- table (aligned) or tsv; rows: lists of cells
_M.print_rows = print_rows

---------------------------------------------------------------------------
-- table and tsv of what --query leaves, by az's rules
---------------------------------------------------------------------------

-- A scalar in a table cell (tabulate's str()): booleans True/False.
local function scalar_text(v)
  local t = type(v)
  if t == "boolean" then return v and "True" or "False" end
  if t == "number" then return json.number(v) end
  if t == "string" then return cell(v) end
  return ""
end

-- A value in a tsv line (knack's _TsvOutput): a list is its length, an object
-- nothing, null None, booleans True/False.
local function tsv_value(v)
  local k = kind_of(v)
  if k == "array" then return tostring(#v) end
  if k == "object" then return "" end
  if k == "null" then return "None" end
  return scalar_text(v)
end

-- An object's keys for tsv: the service's objects by sorted key, those --query
-- made in their order (az: a dict sorted, an OrderedDict as it is).
local function tsv_keys(obj)
  if document.from_data(obj) then return json.sorted_keys(obj) end
  return json.keys(obj)
end

local function generic_tsv(result)
  local items = kind_of(result) == "array" and result or { result }
  for _, item in ipairs(items) do
    local k, vals = kind_of(item), {}
    if k == "object" then
      for _, key in ipairs(tsv_keys(item)) do vals[#vals + 1] = tsv_value(rawget(item, key)) end
    elseif k == "array" then
      for i = 1, #item do vals[i] = tsv_value(item[i]) end
    elseif k == "boolean" then
      vals[1] = item and "true" or "false"
    else
      vals[1] = tsv_value(item)
    end
    out(table.concat(vals, "\t") .. "\n")
  end
end

local TABLE_SKIP = set_of { "id", "type", "etag" }

-- UTF-8 characters, for the widths
local function width_of(s) return #s:gsub("[\128-\191]", "") end

-- knack's _TableOutput and tabulate's "simple" format: the columns are the keys of
-- the items (first letter capitalised; id, type and etag left out, and so are null,
-- list and object values), a list item's Column1…, a scalar's Result; a column is
-- as wide as its header plus two, or its widest cell; numbers align right.
local function generic_table(result)
  local items = kind_of(result) == "array" and result or { result }
  local headers, index, rows = {}, {}, {}
  local function put(row, h, v)
    if not index[h] then
      headers[#headers + 1] = h
      index[h] = { n = #headers, numeric = true }
    end
    row[h] = v
    if type(v) ~= "number" then index[h].numeric = false end
  end
  for _, item in ipairs(items) do
    local row, k = {}, kind_of(item)
    if k == "object" then
      for _, key in ipairs(json.keys(item)) do
        local v = rawget(item, key)
        local vk = kind_of(v)
        if not TABLE_SKIP[key] and vk ~= "null" and vk ~= "array" and vk ~= "object" then
          put(row, key:sub(1, 1):upper() .. key:sub(2), v)
        end
      end
    elseif k == "array" then
      for i = 1, #item do
        local v = item[i]
        local vk = kind_of(v)
        put(row, "Column" .. i, (vk == "array" or vk == "object") and json.encode(v) or v)
      end
    elseif not is_null(item) then
      put(row, "Result", item)
    end
    rows[#rows + 1] = row
  end
  if #headers == 0 then out("\n"); return end
  local width = {}
  for i, h in ipairs(headers) do width[i] = width_of(h) + 2 end
  local text = {}
  for r, row in ipairs(rows) do
    text[r] = {}
    for i, h in ipairs(headers) do
      local v = row[h]
      text[r][i] = is_null(v) and "" or scalar_text(v)
      width[i] = math.max(width[i], width_of(text[r][i]))
    end
  end
  local function line(cells)
    local c = {}
    for i, h in ipairs(headers) do
      local pad = (" "):rep(width[i] - width_of(cells[i]))
      c[i] = index[h].numeric and (pad .. cells[i]) or (cells[i] .. pad)
    end
    return (table.concat(c, "  "):gsub("%s+$", "")) .. "\n"
  end
  local dashes = {}
  for i = 1, #headers do dashes[i] = ("-"):rep(width[i]) end
  out(line(headers))
  out(line(dashes))
  for _, cells in ipairs(text) do out(line(cells)) end
end

---------------------------------------------------------------------------
-- yaml (libyaml's emitter, from Debian's lua-yaml), as az's yaml.safe_dump
---------------------------------------------------------------------------

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

local function yaml_text(v)
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

---------------------------------------------------------------------------
-- colour (jsonc, yamlc): on a terminal only
---------------------------------------------------------------------------

local KEY, STR, LIT, RESET = "\27[94m", "\27[33m", "\27[36m", "\27[39m"

-- Our own JSON text, coloured: keys, strings, and numbers/true/false/null. Its
-- strings hold no raw control character (the writer escapes them, C1 too).
local function colour_json(s)
  local parts, i = {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    if c == '"' then
      local j = i + 1
      while true do
        local q = s:find('[\\"]', j)
        if s:sub(q, q) == "\\" then j = q + 2 else j = q; break end
      end
      local str = s:sub(i, j)
      local is_key = s:find("^%s*:", j + 1) ~= nil
      parts[#parts + 1] = (is_key and KEY or STR) .. str .. RESET
      i = j + 1
    else
      local lit = s:match("^[%w%.%+%-]+", i)
      if lit then
        parts[#parts + 1] = LIT .. lit .. RESET
        i = i + #lit
      else
        parts[#parts + 1] = c
        i = i + 1
      end
    end
  end
  return table.concat(parts)
end

-- YAML coloured: the keys of block mappings (libyaml escapes control characters).
local function colour_yaml(s)
  return (s:gsub("([^\n]*)\n", function(l)
    local lead, key, rest = l:match("^([%s%-]*)([%w_%.%-]+)(:.*)$")
    if key then return lead .. KEY .. key .. RESET .. rest .. "\n" end
    return l .. "\n"
  end))
end

local function stdout_tty()
  local ok, system = pcall(require, "system")
  if ok and type(system) == "table" and system.isatty then
    local ok2, r = pcall(system.isatty, io.stdout)
    if ok2 then return r == true end
  end
  local r = os.execute("test -t 1")
  return r == true or r == 0
end

---------------------------------------------------------------------------
-- formats and emit
---------------------------------------------------------------------------

local LISTS = set_of { "scope_maps", "tokens" }

-- syntax: output.add_kind(kind, rows, is_list)  -- a kind of value of another command file:
-- rows(o, value) prints it for -o table and tsv (output.print_rows); is_list: [] when empty
function _M.add_kind(kind, rows, is_list)
  ROWS[kind], LISTS[kind] = rows, is_list or nil
end

local json_text = document.json_text

-- format name -> function(o, kind, value); o.queried: value is what --query left
local FORMATS = {
  json = function(_, _, value) out(json_text(value)) end,
  jsonc = function(_, _, value)
    if stdout_tty() then out(colour_json(json_text(value, true))) else out(json_text(value)) end
  end,
  yaml = function(_, _, value) out(yaml_text(value)) end,
  yamlc = function(_, _, value)
    if stdout_tty() then out(colour_yaml(yaml_text(value))) else out(yaml_text(value)) end
  end,
  table = function(o, kind, value)
    if o.queried then return generic_table(value) end
    ROWS[kind](o, value)
  end,
  tsv = function(o, kind, value)
    if o.queried then return generic_tsv(value) end
    ROWS[kind](o, value)
  end,
  none = function() end,
}

_M.FORMAT_NAMES = "json, jsonc, yaml, yamlc, table, tsv or none"

-- syntax: bool = output.is_format(name)
function _M.is_format(name)
  return FORMATS[name] ~= nil
end

-- syntax: output.check_query(o, cmd)  -- compiles o.query into o.query_expr; a
-- malformed expression is a usage error (exit 2), found before anything is sent.
-- The expression is not repeated: only what is wrong, and where.
function _M.check_query(o, cmd)
  if o.query == nil then return end
  local expr, err = jmespath.compile(o.query)
  if not expr then
    fail.usage(("--query is not a valid JMESPath expression: %s%s"):format(
      printable(err.message or "syntax error"),
      err.position and (" (at character " .. err.position .. ")") or ""), cmd)
  end
  o.query_expr = expr
end

-- acr.GeneratedCredentials -> ARM's camelCase shape (the values included).
function _M.creds_table(creds)
  local pw = {}
  for i, p in ipairs(creds.passwords or {}) do
    pw[i] = { name = p.name, value = p.value, expiry = p.expiry, creationTime = p.creation_time }
  end
  return { username = creds.username, passwords = pw }
end

-- Remembers that the output holds the new passwords of token o.name, to say so when
-- it cannot be delivered.
local function note_secrets(o, kind, value)
  local creds = kind == "credentials" and value
    or kind == "token_created" and (value.properties or {}).credentials
  for _, p in ipairs(creds and creds.passwords or {}) do
    if p.value then state.secrets = o.name end
  end
end

-- syntax: output.emit(o, kind, value)
--   kind: scope_map, scope_maps, token, tokens, credentials, token_created, operation;
--   value: ARM's document (a table); o.output: the format; o.query_expr: the
--   compiled --query. A query that leaves null prints nothing (as az); one that
--   fails on the data (a function given the wrong type) is a failure (exit 1).
function _M.emit(o, kind, value)
  if o.output == "none" then return end
  note_secrets(o, kind, value)
  value = document.mark(value, LISTS[kind])
  if o.query_expr then
    local res, err = o.query_expr:search(value)
    if res == nil then
      local msg = "--query failed on the result: " .. printable(err.message or tostring(err))
      if state.secrets then
        msg = msg .. "\nthe new passwords of token '" .. state.secrets .. "' were generated but "
          .. "not delivered: generate them again (acr token credential generate -n "
          .. state.secrets .. ")"
      end
      fail.failure(msg)
    end
    if is_null(res) then return end
    o = setmetatable({ queried = true }, { __index = o })
    value = res
  end
  FORMATS[o.output](o, kind, value)
end

return _M
