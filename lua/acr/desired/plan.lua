-- acr.desired.plan — the changes that take the registries from what ARM has now to
-- what a desired state says, each with its reason and the changes it must follow.
--
--   local p = plan.make(entries, state, opts)
--   -- entries[i] = { client =, registry = (of the file) }; state[i] from acr.desired.current
--   -- p.changes = { { id=, action=, kind=, registry=, name=, reason=, fields=?, slot=?, after={ids} }… }
--   -- p.notes = { { registry=, name=, message= }… }   what waits for a later run, and why
--   -- p.failures = { { registry=, name=?, message= | err= }… }  what cannot be planned
--
-- Actions are create, update, delete (scope maps and tokens), rotate (generate a slot's
-- password and deliver it) and retire (remove a slot's password). Changes of one token
-- run one after another, in the order made here; a token's change follows the change of
-- the scope map it will use; a scope map's delete follows the changes of the tokens that
-- leave it.
local ledger = require "acr.desired.ledger"
local rotation = require "acr.desired.rotation"
local time = require "acr.time"

local _M = {}

local function lower(s) return s and s:lower() end

-- Sorted, without repeats: actions compare as sets.
local function set_list(list)
  local seen, out = {}, {}
  for _, a in ipairs(list or {}) do
    if not seen[a] then seen[a], out[#out + 1] = true, a end
  end
  table.sort(out)
  return out
end

local function set_diff(from, to)
  local had, has, added, removed = {}, {}, {}, {}
  for _, a in ipairs(from) do had[a] = true end
  for _, a in ipairs(to) do has[a] = true end
  for _, a in ipairs(to) do if not had[a] then added[#added + 1] = a end end
  for _, a in ipairs(from) do if not has[a] then removed[#removed + 1] = a end end
  return added, removed
end

local function is_system_scope_map(sm)
  return sm.scope_map_type == "SystemDefined" or sm.name:sub(1, 14):lower() == "_repositories_"
end

-- The scope map name of a token's scope_map_id (acr.desired.current checked it is one
-- of this registry's), or nil.
local function scope_map_name(tok)
  local id = tok.scope_map_id
  return id and id:match("/[sS][cC][oO][pP][eE][mM][aA][pP][sS]/([^/]+)$")
end

local Builder = {}
Builder.__index = Builder

local function builder(opts)
  return setmetatable({ changes = {}, notes = {}, failures = {}, opts = opts, now = opts.now }, Builder)
end

function Builder:add(entry, c)
  c.id = #self.changes + 1
  c.registry, c.entry = entry.registry, entry
  c.after = c.after or {}
  self.changes[c.id] = c
  return c
end

function Builder:note(reg, name, message)
  self.notes[#self.notes + 1] = { registry = reg, name = name, message = message }
end

function Builder:fail(reg, name, message)
  self.failures[#self.failures + 1] = { registry = reg, name = name, message = message }
end

-- Changes of one scope map: create, or update field by field.
function Builder:scope_map(entry, want, have)
  local actions = set_list(want.actions)
  if not have then
    return self:add(entry, { action = "create", kind = "scope_map", name = want.name,
      reason = "not in the registry", actions = actions, description = want.description,
      fields = { { field = "actions", to = actions }, want.description and { field = "description", to = want.description } or nil } })
  end
  local fields = {}
  local current = set_list(have.actions)
  local added, removed = set_diff(current, actions)
  if #added > 0 or #removed > 0 then
    fields[#fields + 1] = { field = "actions", from = current, to = actions, added = added, removed = removed }
  end
  if want.description ~= nil and want.description ~= (have.description or "") then
    fields[#fields + 1] = { field = "description", from = have.description or "", to = want.description }
  end
  if #fields == 0 then return nil end
  local reason = {}
  for i, f in ipairs(fields) do reason[i] = f.field end
  return self:add(entry, { action = "update", kind = "scope_map", name = have.name,
    reason = table.concat(reason, " and ") .. " differ", fields = fields,
    actions = #added + #removed > 0 and actions or nil, description = want.description })
end

-- The ledger records of a token's two slots, with their times as epochs.
local function records_of(l, key)
  local out = {}
  for _, s in ipairs(rotation.SLOTS) do
    local e = l and l:get(key, s)
    if e then out[s] = { state = e.state, at = e.at, created = time.epoch(e.creation_time) } end
  end
  return out
end

-- The rotate and retire changes a token's policy asks for now.
function Builder:passwords(entry, want, have, after)
  local reg = entry.registry
  -- a disabled token's passwords let nobody in: they wait until it is enabled
  local status = want.status or (have and have.status)
  if status == "disabled" then
    self:note(reg, want.name, "the token is disabled: its passwords are not rotated")
    return after
  end
  local key = ledger.key(reg.subscription, reg.resource_group, reg.name, want.name)
  local slots, err = {}, nil
  if have then slots, err = rotation.slots(have) end
  if not slots then
    self:fail(reg, want.name, err)
    return after
  end
  local d = rotation.decide(want.passwords, slots, records_of(self.opts.ledger, key), self.now)
  local last = after
  for _, r in ipairs(d.rotate) do
    last = self:add(entry, { action = "rotate", kind = "token", name = want.name, slot = r.slot,
      reason = r.reason, repair = r.repair, withdraw = r.withdraw, key = key,
      lifetime = want.passwords.lifetime, after = { last } }).id
  end
  for _, r in ipairs(d.retire) do
    last = self:add(entry, { action = "retire", kind = "token", name = want.name, slot = r.slot,
      reason = r.reason, withdraw = r.withdraw, key = key, keep = rotation.OTHER[r.slot],
      after = { last } }).id
  end
  for _, n in ipairs(d.notes) do self:note(reg, want.name, n) end
  for _, m in ipairs(d.problems) do self:fail(reg, want.name, m) end
  return last
end

-- Changes of one token: create or update, then its passwords.
function Builder:token(entry, want, have, sm_changes, sm_known)
  local reg = entry.registry
  local ref = lower(want.scope_map)
  if not sm_known[ref] then
    self:fail(reg, want.name, ("its scope map '%s' is neither in the file nor in the registry")
      :format(want.scope_map))
    return
  end
  local after = { sm_changes[ref] }
  local last
  if not have then
    last = self:add(entry, { action = "create", kind = "token", name = want.name,
      reason = "not in the registry", scope_map = want.scope_map, status = want.status,
      fields = { { field = "scope_map", to = want.scope_map }, want.status and { field = "status", to = want.status } or nil },
      after = after }).id
  else
    local fields = {}
    local current = scope_map_name(have)
    if lower(current) ~= ref then
      fields[#fields + 1] = { field = "scope_map", from = current, to = want.scope_map }
    end
    if want.status and want.status ~= have.status then
      fields[#fields + 1] = { field = "status", from = have.status, to = want.status }
    end
    if #fields > 0 then
      local reason = {}
      for i, f in ipairs(fields) do reason[i] = f.field end
      last = self:add(entry, { action = "update", kind = "token", name = have.name,
        reason = table.concat(reason, " and ") .. " differ", fields = fields,
        scope_map = fields[1].field == "scope_map" and want.scope_map or nil,
        status = want.status ~= have.status and want.status or nil, after = after, from_scope_map = current }).id
    end
  end
  if want.passwords then self:passwords(entry, want, have, last) end
  return last
end

-- The keys of t in order, so that a plan reads the same from run to run.
local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys)
  return keys
end

-- What --prune removes: the user objects the file does not list. A scope map a listed
-- token uses stays.
function Builder:prune(entry, state, listed_sm, listed_tok, leaving)
  local reg = entry.registry
  local acting = reg.prune and self.opts.prune
  local deletes = {}
  for _, key in ipairs(sorted_keys(state.tokens)) do
    local tok = state.tokens[key]
    if not listed_tok[key] then
      if acting then
        local c = self:add(entry, { action = "delete", kind = "token", name = tok.name,
          reason = "not in the file (prune)" })
        local sm = lower(scope_map_name(tok))
        if sm then leaving[sm] = leaving[sm] or {}; table.insert(leaving[sm], c.id) end
        deletes[#deletes + 1] = c
      elseif reg.prune then
        self:note(reg, tok.name, "token not in the file: deleted with --prune")
      end
    end
  end
  for _, key in ipairs(sorted_keys(state.scope_maps)) do
    local sm = state.scope_maps[key]
    if not listed_sm[key] and not is_system_scope_map(sm) then
      if acting then
        self:add(entry, { action = "delete", kind = "scope_map", name = sm.name,
          reason = "not in the file (prune)", after = leaving[key] })
      elseif reg.prune then
        self:note(reg, sm.name, "scope map not in the file: deleted with --prune")
      end
    end
  end
end

function Builder:registry(entry, state)
  local reg = entry.registry
  local sm_changes, sm_known, listed_sm, listed_tok = {}, {}, {}, {}
  for key in pairs(state.scope_maps) do sm_known[key] = true end
  for _, want in ipairs(reg.scope_maps) do
    local key = lower(want.name)
    listed_sm[key], sm_known[key] = true, true
    local c = self:scope_map(entry, want, state.scope_maps[key])
    sm_changes[key] = c and c.id
  end
  local leaving = {}   -- scope map -> the changes of tokens that stop using it
  for _, want in ipairs(reg.tokens) do
    local key = lower(want.name)
    listed_tok[key] = true
    -- a scope map a listed token uses is never pruned
    listed_sm[lower(want.scope_map)] = true
    local have = state.tokens[key]
    local id = self:token(entry, want, have, sm_changes, sm_known)
    local from = have and lower(scope_map_name(have))
    if id and from and from ~= lower(want.scope_map) then
      leaving[from] = leaving[from] or {}
      table.insert(leaving[from], id)
    end
  end
  self:prune(entry, state, listed_sm, listed_tok, leaving)
end

-- syntax: p = plan.make(entries, state, failures, opts)
-- opts: { prune = bool, ledger = acr.desired.ledger, now = epoch }
function _M.make(entries, state, failures, opts)
  local b = builder(opts)
  for _, f in ipairs(failures) do
    b.failures[#b.failures + 1] = { registry = f.registry, err = f.err,
      message = "could not be read: " .. tostring(f.err) }
  end
  for i, entry in ipairs(entries) do
    if state[i] then b:registry(entry, state[i]) end
  end
  -- prune deletes may have been added with no scope map change to follow: drop the nils
  for _, c in ipairs(b.changes) do
    local after = {}
    for _, id in pairs(c.after) do after[#after + 1] = id end
    table.sort(after)
    c.after = after
  end
  return { changes = b.changes, notes = b.notes, failures = b.failures }
end

return _M
