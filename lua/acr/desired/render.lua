-- acr.desired.render — a plan as a readable diff (tostring(plan), `acr plan`) and as
-- plain data (plan:to_table(), `acr plan -o json`). Neither holds a secret: a plan
-- never has one.
--
--   + create   ~ update   - delete   ↻ rotate a slot   ✕ retire a slot
--   · what waits for a later run    ! what cannot be planned
local json = require "acr.json"

local _M = {}

local SYMBOL = { create = "+", update = "~", delete = "-", rotate = "↻", retire = "✕" }
local ORDER = { "create", "update", "delete", "rotate", "retire" }
local KIND = { scope_map = "scope map", token = "token" }

_M.SYMBOL = SYMBOL

-- What ARM sent (actions, a description) reaches a terminal: no control character
-- of it acts there (json.encode escapes them in a string; a list's items are made safe).
local safe = require("acr.text").printable

local function quoted(v)
  if type(v) == "table" then
    local out = {}
    for i, a in ipairs(v) do out[i] = safe(a) end
    return table.concat(out, ", ")
  end
  return json.encode(v == nil and "" or v)
end

local function field_lines(out, c)
  for _, f in ipairs(c.fields or {}) do
    local text
    if f.added or f.removed then
      local parts = {}
      for _, a in ipairs(f.added or {}) do parts[#parts + 1] = "+" .. safe(a) end
      for _, a in ipairs(f.removed or {}) do parts[#parts + 1] = "-" .. safe(a) end
      text = table.concat(parts, " ")
    elseif f.from ~= nil then
      text = quoted(f.from) .. " → " .. quoted(f.to)
    else
      text = quoted(f.to)
    end
    out[#out + 1] = "      " .. f.field .. ": " .. text
  end
end

local function reg_key(reg)
  return reg.subscription .. "/" .. reg.resource_group .. "/" .. reg.name
end

-- The registries in file order, each with its lines.
local function by_registry(p)
  local order, groups = {}, {}
  local function group(reg)
    local k = reg_key(reg)
    if not groups[k] then
      groups[k] = { reg = reg, lines = {} }
      order[#order + 1] = groups[k]
    end
    return groups[k].lines
  end
  for _, reg in ipairs(p.desired and p.desired.registries or {}) do group(reg) end
  for _, f in ipairs(p.failures) do
    local out = group(f.registry)
    out[#out + 1] = "  ! " .. (f.name and ("token " .. f.name .. ": ") or "") .. f.message
  end
  for _, c in ipairs(p.changes) do
    local out = group(c.registry)
    local what = KIND[c.kind] .. " " .. c.name .. (c.slot and (" " .. c.slot) or "")
    out[#out + 1] = ("  %s %s: %s"):format(SYMBOL[c.action], what, c.reason)
    field_lines(out, c)
  end
  for _, n in ipairs(p.notes) do
    local out = group(n.registry)
    out[#out + 1] = "  · " .. (n.name and (n.name .. ": ") or "") .. n.message
  end
  return order
end

-- syntax: counts = render.summary(p)  -- action -> how many
function _M.summary(p)
  local n = { create = 0, update = 0, delete = 0, rotate = 0, retire = 0 }
  for _, c in ipairs(p.changes) do n[c.action] = n[c.action] + 1 end
  return n
end

local function summary_line(p)
  local n, parts = _M.summary(p), {}
  for _, a in ipairs(ORDER) do
    if n[a] > 0 then parts[#parts + 1] = ("%d to %s"):format(n[a], a) end
  end
  local line = #parts > 0 and ("Plan: " .. table.concat(parts, ", ") .. ".") or "No changes."
  if #p.failures > 0 then line = line .. (" %d cannot be planned."):format(#p.failures) end
  return line
end

-- syntax: s = render.text(p)
function _M.text(p)
  local out = {}
  for _, g in ipairs(by_registry(p)) do
    if #g.lines > 0 then
      out[#out + 1] = ("registry %s (resource group %s, subscription %s)"):format(g.reg.name,
        g.reg.resource_group, g.reg.subscription)
      for _, l in ipairs(g.lines) do out[#out + 1] = l end
    end
  end
  out[#out + 1] = summary_line(p)
  return table.concat(out, "\n") .. "\n"
end

local function where(t, reg)
  t.subscription, t.resource_group, t.registry = reg.subscription, reg.resource_group, reg.name
  return t
end

local array = json.array

-- syntax: t = render.data(p)
function _M.data(p)
  local changes, notes, failures = array(), array(), array()
  for _, c in ipairs(p.changes) do
    local fields = array()
    for i, f in ipairs(c.fields or {}) do
      fields[i] = { field = f.field, from = f.from, to = f.to, added = f.added and array(f.added),
                    removed = f.removed and array(f.removed) }
    end
    changes[#changes + 1] = where({ id = c.id, action = c.action, symbol = SYMBOL[c.action],
      kind = c.kind, name = c.name, slot = c.slot, reason = c.reason, repair = c.repair or nil,
      fields = fields, after = array(c.after) }, c.registry)
  end
  for _, n in ipairs(p.notes) do notes[#notes + 1] = where({ name = n.name, message = n.message }, n.registry) end
  for _, f in ipairs(p.failures) do
    failures[#failures + 1] = where({ name = f.name, message = f.message,
      code = type(f.err) == "table" and f.err.code or nil }, f.registry)
  end
  return { changes = changes, notes = notes, failures = failures, summary = _M.summary(p),
           empty = #p.changes == 0 and #p.failures == 0 }
end

return _M
