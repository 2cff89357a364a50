-- acr.desired.rotation — what a token's password policy asks of its two slots now:
-- which slot to generate into (and why), which to retire (and why), what waits for a
-- later run, and what cannot be done safely. Pure: it reads the slots ARM shows, the
-- delivery ledger and the time.
--
-- The rule that keeps consumers working: a password that works leaves its slot
-- (retired, or overwritten by a new one) only when it was never delivered by this tool
-- and nobody else made it (an undelivered generation of ours, repaired), or when the
-- other slot holds a password this tool delivered that works and has been in the sink
-- for retire_after. A consumer that read the old password had that long to move.
--
--   local d = rotation.decide(policy, slots, records, now)
--   -- policy:  { slots = 1|2, lifetime = s?, rotate_before = s, retire_after = s }
--   -- slots:   { password1 = { created = epoch, expiry = epoch? } | nil, password2 = … }
--   -- records: { password1 = { state =, at =, created = } | nil, … } (acr.desired.ledger)
--   -- d = { rotate = { { slot=, reason=, repair=?, withdraw=? }… },
--   --       retire = { { slot=, reason=, after = index into rotate?, withdraw=? }… },
--   --       notes = { "…" }, problems = { "…" } }
local time = require "acr.time"

local _M = {}

local SLOTS = { "password1", "password2" }
local OTHER = { password1 = "password2", password2 = "password1" }
_M.SLOTS, _M.OTHER = SLOTS, OTHER

-- An intent matches the password in its slot when ARM made it between SKEW before the
-- intent (the clocks may differ by that much) and WINDOW after (the operation's time).
local SKEW, WINDOW = 300, 3600

local View = {}
View.__index = View

local function view(policy, slots, records, now)
  return setmetatable({ policy = policy, slots = slots, records = records, now = now }, View)
end

function View:live(s)
  local p = self.slots[s]
  return p ~= nil and (p.expiry == nil or p.expiry > self.now)
end

function View:fresh(s)
  local p = self.slots[s]
  return self:live(s) and (p.expiry == nil or p.expiry - self.now > self.policy.rotate_before)
end

-- This tool delivered the password now in the slot.
function View:delivered(s)
  local rec, p = self.records[s], self.slots[s]
  return rec ~= nil and p ~= nil and rec.state == "delivered" and rec.created ~= nil
    and math.abs(rec.created - p.created) < 1
end

-- This tool generated the password now in the slot and no sink confirmed it.
function View:undelivered(s)
  local rec, p = self.records[s], self.slots[s]
  if rec == nil or p == nil or rec.state == "delivered" then return false end
  if rec.state == "generated" then return rec.created ~= nil and math.abs(rec.created - p.created) < 1 end
  return rec.at ~= nil and p.created >= rec.at - SKEW and p.created <= rec.at + WINDOW
end

-- In the sink, working, and fresh: what the policy wants in a slot.
function View:good(s) return self:delivered(s) and self:fresh(s) end

-- The sink's consumers have had this slot's password for retire_after.
function View:settled(s)
  return self:delivered(s) and self:live(s) and self.now >= self.slots[s].created + self.policy.retire_after
end

-- Whether the slot may be written or emptied now without cutting anyone off.
function View:may_destroy(s)
  return self.slots[s] == nil or not self:live(s) or self:undelivered(s) or self:settled(OTHER[s])
end

-- Why the slot's password is not what the policy wants, in words.
function View:need(s)
  local p = self.slots[s]
  if p == nil then return "it is empty" end
  if not self:live(s) then return "its password expired " .. time.iso(p.expiry) end
  if not self:fresh(s) then
    return ("its password expires %s, within rotate_before %s"):format(time.iso(p.expiry),
      time.span(self.policy.rotate_before))
  end
  if not self:delivered(s) then return "its password was not delivered by this tool" end
end

-- When the other slot's password will have been in the sink for retire_after.
function View:settles_at(s) return self.slots[s].created + self.policy.retire_after end

local function rotate(d, v, s, reason)
  d.rotate[#d.rotate + 1] = { slot = s, reason = reason, withdraw = v:delivered(s) }
end

local function retire(d, v, s, reason, after)
  d.retire[#d.retire + 1] = { slot = s, reason = reason, after = after, withdraw = v:delivered(s) }
end

-- The slots that need a password, most urgent first: empty, expired, then by age.
local function needing(v)
  local out = {}
  for _, s in ipairs(SLOTS) do if not v:good(s) then out[#out + 1] = s end end
  -- (empty, expired, live) first, then the older
  local function class(s) return v.slots[s] == nil and 0 or not v:live(s) and 1 or 2 end
  table.sort(out, function(a, b)
    local ca, cb = class(a), class(b)
    if ca ~= cb then return ca < cb end
    return ca > 0 and v.slots[a].created < v.slots[b].created
  end)
  return out
end

-- A slot that needs a new password but may not be written yet: a note when the other
-- slot settles, a problem when nothing this tool does can free it.
local function blocked(d, v, s)
  local o = OTHER[s]
  if v:delivered(o) and v:live(o) then
    d.notes[#d.notes + 1] = ("%s needs a new password (%s): it is generated from %s, once %s "
      .. "has been in the sink for retire_after %s"):format(s, v:need(s), time.iso(v:settles_at(o)), o,
      time.span(v.policy.retire_after))
  else
    d.problems[#d.problems + 1] = ("%s needs a new password (%s), and %s holds no password this tool "
      .. "delivered: writing either would cut off whoever uses them; free a slot (acr token "
      .. "credential delete) to let it rotate"):format(s, v:need(s), o)
  end
end

-- One slot kept filled: a new password when the sink has none that is fresh, then the
-- other slot retired once that one has been delivered for retire_after.
local function one_slot(d, v)
  local g
  for _, s in ipairs(SLOTS) do
    if v:good(s) and (g == nil or v.slots[s].created > v.slots[g].created) then g = s end
  end
  if g then
    local o = OTHER[g]
    if v.slots[o] == nil then return end
    if not v:live(o) then
      retire(d, v, o, "its password expired " .. time.iso(v.slots[o].expiry))
    elseif v:settled(g) then
      retire(d, v, o, ("%s has been in the sink for retire_after %s"):format(g, time.span(v.policy.retire_after)))
    else
      d.notes[#d.notes + 1] = ("%s is retired from %s (retire_after %s after %s was made)")
        :format(o, time.iso(v:settles_at(g)), time.span(v.policy.retire_after), g)
    end
    return
  end
  local candidates = needing(v)
  local target
  for _, s in ipairs(candidates) do
    if v:may_destroy(s) then target = s; break end
  end
  if not target then return blocked(d, v, candidates[1]) end
  local o = OTHER[target]
  local why = v:need(target)
  if v.slots[o] then why = why .. "; " .. o .. ": " .. (v:need(o) or "fresh") end
  rotate(d, v, target, why)
  if v.slots[o] == nil then return end
  if not v:live(o) then
    retire(d, v, o, "its password expired " .. time.iso(v.slots[o].expiry)
      .. "; it goes once the new " .. target .. " is delivered", #d.rotate)
  elseif v.policy.retire_after == 0 then
    retire(d, v, o, "the new " .. target .. " is delivered and retire_after is 0", #d.rotate)
  else
    d.notes[#d.notes + 1] = ("%s is retired %s after the new %s is delivered, by a later run")
      :format(o, time.span(v.policy.retire_after), target)
  end
end

-- Two slots kept filled: every empty slot gets one; a slot that is not good gets a new
-- one when it may be written: one slot a run, unless both passwords have expired.
local function two_slots(d, v, repaired)
  local empty = false
  for _, s in ipairs(SLOTS) do
    if v.slots[s] == nil and not repaired[s] then
      rotate(d, v, s, "it is empty")
      empty = true
    end
  end
  if empty or next(repaired) then
    -- beside an empty or repaired slot, a password that has expired is of no use to
    -- anyone: it is made again in the same run
    for _, s in ipairs(SLOTS) do
      if v.slots[s] and not repaired[s] and not v:live(s) then rotate(d, v, s, v:need(s)) end
    end
    return
  end
  local candidates = needing(v)
  if #candidates == 0 then return end
  if #candidates == 2 and not v:live("password1") and not v:live("password2") then
    for _, s in ipairs(candidates) do rotate(d, v, s, v:need(s)) end
    return
  end
  local s
  for _, c in ipairs(candidates) do
    if v:may_destroy(c) then s = c; break end
  end
  if not s then return blocked(d, v, candidates[1]) end
  rotate(d, v, s, v:need(s))
  if #candidates == 2 then
    d.notes[#d.notes + 1] = OTHER[s] .. " gets a new password once the new " .. s
      .. " has been in the sink for retire_after " .. time.span(v.policy.retire_after)
  end
end

-- syntax: d = rotation.decide(policy, slots, records, now)
function _M.decide(policy, slots, records, now)
  local v = view(policy, slots, records, now)
  local d = { rotate = {}, retire = {}, notes = {}, problems = {} }
  local repaired = {}
  for _, s in ipairs(SLOTS) do
    if v:undelivered(s) then
      repaired[s] = true
      -- the record may hide a delivery whose own record was lost (a full disk): the sink
      -- gives up what it may hold first (a withdraw of nothing does nothing)
      d.rotate[#d.rotate + 1] = { slot = s, repair = true, withdraw = true,
        reason = "its password was generated by an earlier run and no sink confirmed it" }
    end
  end
  if policy.slots == 2 then
    two_slots(d, v, repaired)
  elseif not next(repaired) then
    one_slot(d, v)
  else
    -- the repaired slot is the one in use once delivered: the other goes in the same
    -- run when it has expired or retire_after is 0, as after any rotation
    for s in pairs(repaired) do
      local o = OTHER[s]
      if v.slots[o] and not repaired[o] and (not v:live(o) or policy.retire_after == 0) then
        retire(d, v, o, (not v:live(o) and ("its password expired " .. time.iso(v.slots[o].expiry))
          or "retire_after is 0") .. "; it goes once the repaired " .. s .. " is delivered", #d.rotate)
      end
    end
  end
  return d
end

-- syntax: epoch = rotation.expiry_of(p)  -- a password's expiry as ARM sent it, in
-- epochs: false when it has none (ARM writes a password that never expires without an
-- expiry, or with a null one), nil when it is not a time
function _M.expiry_of(p)
  local v = p.expiry
  if v == nil or type(v) == "userdata" or type(v) == "lightuserdata" then return false end
  return time.epoch(v)
end

-- syntax: slots, err = rotation.slots(tok)  -- the password slots of an acr.Token, in
-- epochs; err names a time ARM sent that is not one (nothing is decided on a guess)
function _M.slots(tok)
  local out = {}
  local creds = tok.credentials
  for _, p in ipairs(creds and creds.passwords or {}) do
    if p.name == "password1" or p.name == "password2" then
      local created, expiry = time.epoch(p.creation_time), _M.expiry_of(p)
      if not created or expiry == nil then
        return nil, ("%s's %s from the service is not a time"):format(p.name, created and "expiry" or "creationTime")
      end
      out[p.name] = { created = created, expiry = expiry or nil }
    end
  end
  return out
end

return _M
