-- acr.cli.output — what a command prints on stdout: the value (ARM's document of
-- it), filtered by --query (JMESPath), in a format (-o json|jsonc|yaml|yamlc|table|
-- tsv|none), and whether it was delivered.
--
-- emit(o, kind, value) is the one way out: it notes generated passwords, applies
-- the query, then formats what is left, after az's rules (knack's output.py). The
-- formats' text is made apart: document.lua (json), yaml.lua, colour.lua (jsonc,
-- yamlc) and tables.lua (table, tsv); this file writes it.

local colour = require "acr.cli.colour"
local document = require "acr.cli.document"
local fail = require "acr.cli.fail"
local jmespath = require "acr.jmespath"
local tables = require "acr.cli.tables"
local yaml = require "acr.cli.yaml"

local printable = fail.printable

local _M = {}

local set_of = require("acr.cli.values").set_of

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
-- formats and emit
---------------------------------------------------------------------------

-- kind -> function(o, value) printing it as rows (tables.ROWS, then add_kind's)
local ROWS = {}
for kind, rows in pairs(tables.ROWS) do
  ROWS[kind] = function(o, value) rows(out, o, value) end
end

-- syntax: output.print_rows(o, headers, rows)  -- table (aligned) or tsv; rows: lists of cells
function _M.print_rows(o, headers, rows)
  tables.print_rows(out, o, headers, rows)
end

local LISTS = set_of { "scope_maps", "tokens" }

-- syntax: output.add_kind(kind, rows, is_list)  -- a kind of value of another command file:
-- rows(o, value) prints it for -o table and tsv (output.print_rows); is_list: [] when empty
function _M.add_kind(kind, rows, is_list)
  ROWS[kind], LISTS[kind] = rows, is_list or nil
end

local json_text, yaml_text = document.json_text, yaml.text
local stdout_tty, colour_json, colour_yaml = colour.stdout_tty, colour.json, colour.yaml

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
    if o.queried then return tables.generic_table(out, value) end
    ROWS[kind](o, value)
  end,
  tsv = function(o, kind, value)
    if o.queried then return tables.generic_tsv(out, value) end
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
    if document.is_null(res) then return end
    o = setmetatable({ queried = true }, { __index = o })
    value = res
  end
  FORMATS[o.output](o, kind, value)
end

return _M
