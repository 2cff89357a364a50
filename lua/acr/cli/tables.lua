-- acr.cli.tables — -o table and -o tsv, after az: the columns of each kind of value
-- the commands print, and knack's rules for what --query leaves.
--
-- Every function here writes its lines with out(s), the writer it is given
-- (output.out): one call a line, as it goes.

local document = require "acr.cli.document"
local fail = require "acr.cli.fail"
local json = require "acr.json"

local printable = fail.printable
local set_of = require("acr.cli.values").set_of
local is_null, kind_of = document.is_null, document.kind_of

local _M = {}

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

local function print_tsv(out, headers, rows)
  for _, r in ipairs(rows) do out(table.concat(cells(headers, r), "\t") .. "\n") end
end

local function print_table(out, headers, rows)
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

-- syntax: tables.print_rows(out, o, headers, rows)  -- table (aligned) or tsv; rows:
-- lists of cells
local function print_rows(out, o, headers, rows)
  if o.output == "tsv" then return print_tsv(out, headers, rows) end
  print_table(out, headers, rows)
end
_M.print_rows = print_rows

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

-- kind -> function(out, o, value) printing it as rows
_M.ROWS = {
  scope_map = function(out, o, v) print_rows(out, o, SM_HEADERS, { sm_row(v) }) end,
  scope_maps = function(out, o, v) print_rows(out, o, SM_HEADERS, rows_of(sm_row, v)) end,
  token = function(out, o, v) print_rows(out, o, TOKEN_HEADERS, { token_row(v) }) end,
  tokens = function(out, o, v) print_rows(out, o, TOKEN_HEADERS, rows_of(token_row, v)) end,
  credentials = function(out, o, v) print_rows(out, o, CRED_HEADERS, cred_rows(v)) end,
  token_created = function(out, o, v)
    print_rows(out, o, TOKEN_HEADERS, { token_row(v) })
    local creds = v.properties and v.properties.credentials
    if creds and creds.username then
      if o.output == "table" then out("\n") end
      print_rows(out, o, CRED_HEADERS, cred_rows(creds))
    end
  end,
  operation = function(out, o, v)
    print_rows(out, o, { "STATUS", "REQUEST ID" }, { { v.status, v.request_id } })
  end,
}

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

-- syntax: tables.generic_tsv(out, result)  -- result: what --query left
function _M.generic_tsv(out, result)
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

-- syntax: tables.generic_table(out, result)  -- result: what --query left
-- knack's _TableOutput and tabulate's "simple" format: the columns are the keys of
-- the items (first letter capitalised; id, type and etag left out, and so are null,
-- list and object values), a list item's Column1…, a scalar's Result; a column is
-- as wide as its header plus two, or its widest cell; numbers align right.
function _M.generic_table(out, result)
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

return _M
