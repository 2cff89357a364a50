-- acr.desired.rotation — what a token's password policy asks of its two slots now:
-- which slot to generate into (and why), which to retire (and why), and what waits for
-- a later run. Pure: it reads the slots ARM shows, the delivery ledger and the time.
--
-- The rule that keeps consumers working: a password leaves a slot (retired, or
-- overwritten by a new one) only when another password that works is in the sink, or
-- when nothing of it could still work (it has expired, or it was never delivered).
--
--   local d = rotation.decide(policy, slots, records, now)
--   -- policy:  { slots = 1|2, lifetime = s?, rotate_before = s, retire_after = s }
--   -- slots:   { password1 = { created = epoch, expiry = epoch? } | nil, password2 = … }
--   -- records: { password1 = ledger entry | nil, password2 = … } (acr.desired.ledger)
--   -- d = { rotate = { { slot=, reason=, repair=bool, withdraw=bool }… },
--   --       retire = { { slot=, reason=, after = index into rotate? }… },
--   --       notes = { "…" } }
local time = require "acr.time"

local _M = {}

local SLOTS = { "password1", "password2" }
local OTHER = { password1 = "password2", password2 = "password1" }

-- An intent older than the password in its slot by at most this is taken as the
-- generation it announced: ARM's clock and ours may differ by that much.
local SKEW = 300

_M.SLOTS, _M.OTHER = SLOTS, OTHER

local function live(p, now) return p ~= nil and (p.expiry == nil or p.expiry > now) end

local function fresh(p, policy, now)
  return live(p, now) and (p.expiry == nil or p.expiry - now > policy.rotate_before)
end

-- Whether the record says the password now in the slot went into the sink.
local function delivered(rec, p)
  return rec ~= nil and p ~= nil and rec.state == "delivered" and rec.created ~= nil
    and math.abs(rec.created - p.created) < 1
end

-- A password this tool generated and never delivered: no consumer can hold it, so the
-- slot is generated again (a repair) and the other slot is left as it is.
local function undelivered(rec, p)
  if rec == nil or p == nil or rec.state == "delivered" then return false end
  if rec.state == "generated" then return rec.created ~= nil and math.abs(rec.created - p.created) < 1 end
  return rec.at ~= nil and p.created >= rec.at - SKEW    -- "intended": it may have been made
end

-- Why a slot needs a new password, or nil.
local function need(p, policy, now)
  if p == nil then return "it is empty" end
  if not live(p, now) then return "its password expired " .. time.iso(p.expiry) end
  if not fresh(p, policy, now) then
    return ("its password expires %s, within rotate_before %s"):format(time.iso(p.expiry),
      time.span(policy.rotate_before))
  end
end

-- The slot a single new password goes into: the empty one, else the expired one, else
-- the one whose password is older.
local function target(slots, now)
  for _, s in ipairs(SLOTS) do if slots[s] == nil then return s end end
  for _, s in ipairs(SLOTS) do if not live(slots[s], now) then return s end end
  return slots.password1.created <= slots.password2.created and "password1" or "password2"
end

-- withdraw: the slot's password is in the sink, which gives it up first
local function rotate_one(d, slots, records, s, reason)
  d.rotate[#d.rotate + 1] = { slot = s, reason = reason,
                              withdraw = delivered(records[s], slots[s]) }
end

local function retire_one(d, slots, records, s, reason, after)
  d.retire[#d.retire + 1] = { slot = s, reason = reason, after = after,
                              withdraw = delivered(records[s], slots[s]) }
end

-- One slot kept filled: a new password when none is fresh, then the other retired
-- once the new one is delivered and retire_after has passed.
local function one_slot(d, policy, slots, records, now)
  local fresh_slot
  for _, s in ipairs(SLOTS) do
    if fresh(slots[s], policy, now) and (fresh_slot == nil or slots[s].created > slots[fresh_slot].created) then
      fresh_slot = s
    end
  end
  if not fresh_slot then
    local s = target(slots, now)
    local other = slots[OTHER[s]]
    local why = need(slots[s], policy, now)
    if other then why = why .. "; " .. OTHER[s] .. ": " .. (need(other, policy, now) or "fresh") end
    rotate_one(d, slots, records, s, why)
    if other and not live(other, now) then
      -- nothing could still work with it: no grace time to wait for
      retire_one(d, slots, records, OTHER[s], "its password expired " .. time.iso(other.expiry)
        .. "; it goes once the new " .. s .. " is delivered", #d.rotate)
    elseif other and policy.retire_after == 0 then
      retire_one(d, slots, records, OTHER[s], "the new " .. s .. " is delivered and retire_after is 0",
        #d.rotate)
    elseif other then
      d.notes[#d.notes + 1] = ("%s is retired %s after the new %s is delivered, by a later run")
        :format(OTHER[s], time.span(policy.retire_after), s)
    end
    return
  end
  local old = OTHER[fresh_slot]
  local p = slots[old]
  if p == nil then return end
  if not live(p, now) then
    retire_one(d, slots, records, old, "its password expired " .. time.iso(p.expiry))
  elseif not delivered(records[fresh_slot], slots[fresh_slot]) then
    d.notes[#d.notes + 1] = ("%s and %s both work; %s was not delivered through the sink, "
      .. "so %s stays"):format("password1", "password2", fresh_slot, old)
  else
    local at = slots[fresh_slot].created + policy.retire_after
    if now >= at then
      retire_one(d, slots, records, old, ("%s was delivered, and retire_after %s has passed")
        :format(fresh_slot, time.span(policy.retire_after)))
    else
      d.notes[#d.notes + 1] = ("%s is retired from %s (retire_after %s after %s was made)")
        :format(old, time.iso(at), time.span(policy.retire_after), fresh_slot)
    end
  end
end

-- Two slots kept filled: every empty slot gets one; otherwise the older slot that is
-- not fresh is generated again, when the other still works (consumers move to it).
local function two_slots(d, policy, slots, records, now)
  local empty = false
  for _, s in ipairs(SLOTS) do
    if slots[s] == nil then
      rotate_one(d, slots, records, s, "it is empty")
      empty = true
    end
  end
  if empty then return end
  local stale = {}
  for _, s in ipairs(SLOTS) do if not fresh(slots[s], policy, now) then stale[#stale + 1] = s end end
  if #stale == 2 and not live(slots.password1, now) and not live(slots.password2, now) then
    for _, s in ipairs(stale) do rotate_one(d, slots, records, s, need(slots[s], policy, now)) end
  elseif #stale > 0 then
    local s = #stale == 1 and stale[1] or target(slots, now)
    rotate_one(d, slots, records, s, need(slots[s], policy, now))
    if #stale == 2 then
      d.notes[#d.notes + 1] = OTHER[s] .. " is generated again by a later run, once the new " .. s .. " is delivered"
    end
  end
end

-- syntax: d = rotation.decide(policy, slots, records, now)
function _M.decide(policy, slots, records, now)
  local d = { rotate = {}, retire = {}, notes = {} }
  for _, s in ipairs(SLOTS) do
    if undelivered(records[s], slots[s]) then
      d.rotate[#d.rotate + 1] = { slot = s, repair = true,
        reason = "its password was generated by an earlier run and never delivered" }
    end
  end
  if #d.rotate > 0 then return d end   -- repairs first; the rest waits for a later run
  if policy.slots == 2 then two_slots(d, policy, slots, records, now)
  else one_slot(d, policy, slots, records, now) end
  return d
end

-- syntax: slots = rotation.slots(tok)  -- the password slots of an acr.Token, in epochs
function _M.slots(tok)
  local out = {}
  local creds = tok.credentials
  for _, p in ipairs(creds and creds.passwords or {}) do
    if p.name == "password1" or p.name == "password2" then
      out[p.name] = { created = time.epoch(p.creation_time) or 0, expiry = time.epoch(p.expiry) }
    end
  end
  return out
end

return _M
