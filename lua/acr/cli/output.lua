-- acr.cli.output — what a command prints on stdout: the value (ARM's document of
-- it), in a format (-o json|table|tsv|none), and whether it was delivered.
--
-- emit(o, kind, value) is the one way out: it notes generated passwords, then
-- formats the value. A --query step belongs between the two (see emit).

local printable = require("acr.cli.fail").printable

local _M = {}

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

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
-- json: indented, keys sorted, "/" not escaped. Lua cannot tell an empty array
-- from an empty object, so the members ARM defines as arrays are written as []
-- when empty.
---------------------------------------------------------------------------

local ARRAY_KEYS = set_of { "actions", "passwords", "certificates", "value", "details" }

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function json_number(v)
  if v ~= v or v == math.huge or v == -math.huge then return "null" end
  if v == math.floor(v) and v > -2^53 and v < 2^53 then return ("%d"):format(v) end
  return ("%.17g"):format(v)
end

local json_encode

local function json_array(v, indent, inner)
  local parts = {}
  for i = 1, #v do parts[i] = inner .. json_encode(v[i], inner) end
  return "[\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "]"
end

local function json_object(v, indent, inner)
  local keys, parts = {}, {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local val = v[k]
    if val == nil then val = v[tonumber(k)] end
    parts[i] = inner .. json_string(k) .. ": " .. json_encode(val, inner, ARRAY_KEYS[k])
  end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end

function json_encode(v, indent, as_array)
  indent = indent or ""
  local tv = type(v)
  if tv == "string" then return json_string(v)
  elseif tv == "number" then return json_number(v)
  elseif tv == "boolean" then return tostring(v)
  elseif tv ~= "table" then return "null" end
  if next(v) == nil then return as_array and "[]" or "{}" end
  local inner = indent .. "  "
  if is_array(v) then return json_array(v, indent, inner) end
  return json_object(v, indent, inner)
end

-- syntax: s = output.json_encode(v, as_array?)  -- as_array: an empty table is []
function _M.json_encode(v, as_array)
  return json_encode(v, "", as_array)
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

---------------------------------------------------------------------------
-- formats and emit
---------------------------------------------------------------------------

local LISTS = set_of { "scope_maps", "tokens" }

-- format name -> function(o, kind, value)
local FORMATS = {
  json = function(_, kind, value)
    out(json_encode(value, "", LISTS[kind]) .. "\n")
  end,
  table = function(o, kind, value) ROWS[kind](o, value) end,
  tsv = function(o, kind, value) ROWS[kind](o, value) end,
  none = function() end,
}

-- syntax: bool = output.is_format(name)
function _M.is_format(name)
  return FORMATS[name] ~= nil
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
--   value: ARM's document (a table); o.output: the format.
function _M.emit(o, kind, value)
  if o.output == "none" then return end
  note_secrets(o, kind, value)
  -- a --query step (acr.jmespath) goes here: value = query(o.query, value)
  FORMATS[o.output](o, kind, value)
end

return _M
