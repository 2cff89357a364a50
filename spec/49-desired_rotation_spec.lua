-- acr.desired.rotation.decide, the two-slot password policy, on its own (it is pure):
-- every case of empty, fresh, stale and expired slots, delivered or not, made by this
-- tool or not, for slots: 1 and slots: 2; and, run as a sequence of plans over time, that
-- no password the sink holds is ever destroyed before another delivered one has been
-- in the sink for retire_after, and that the plan after each step is settled.
local rotation = require "acr.desired.rotation"

local DAY = 86400
local NOW = 1800000000

local function policy(over)
  local p = { slots = 1, lifetime = 90 * DAY, rotate_before = 30 * DAY, retire_after = DAY }
  for k, v in pairs(over or {}) do p[k] = v end
  return p
end

-- A password made `age` days before NOW, with the policy's lifetime (or `life` days).
local function pw(age, life)
  local created = NOW - age * DAY
  return { created = created, expiry = created + (life or 90) * DAY }
end

local function delivered(p) return { state = "delivered", created = p.created } end

local function summary(d)
  local out = {}
  for _, r in ipairs(d.rotate) do out[#out + 1] = "rotate " .. r.slot .. (r.withdraw and " (withdraw)" or "") end
  for _, r in ipairs(d.retire) do
    out[#out + 1] = "retire " .. r.slot .. (r.withdraw and " (withdraw)" or "") .. (r.after and " (same run)" or "")
  end
  if #d.problems > 0 then out[#out + 1] = "problem" end
  return out
end

local function decide(pol, slots, records, now)
  return rotation.decide(policy(pol), slots, records or {}, now or NOW)
end

describe("acr.desired.rotation, slots: 1", function()
  it("fills an empty token's password1", function()
    assert.are.same({ "rotate password1" }, summary(decide(nil, {})))
  end)

  it("leaves a fresh delivered password alone", function()
    local p = pw(10)
    local d = decide(nil, { password1 = p }, { password1 = delivered(p) })
    assert.are.same({}, summary(d))
    assert.are.same({}, d.notes)
  end)

  it("rotates into the free slot when the password is within rotate_before, and retires later", function()
    local p = pw(61)
    local d = decide(nil, { password1 = p }, { password1 = delivered(p) })
    assert.are.same({ "rotate password2" }, summary(d))
    assert.matches("within rotate_before 30d", d.rotate[1].reason)
    assert.matches("password1 is retired 1d after the new password2", d.notes[1])
  end)

  it("retires the old slot in the same run with retire_after 0, or when it has expired", function()
    local p = pw(61)
    assert.are.same({ "rotate password2", "retire password1 (withdraw) (same run)" },
      summary(decide({ retire_after = 0 }, { password1 = p }, { password1 = delivered(p) })))
    local dead = pw(91)
    assert.are.same({ "rotate password2", "retire password1 (withdraw) (same run)" },
      summary(decide(nil, { password1 = dead }, { password1 = delivered(dead) })))
  end)

  it("retires the older password only once the new one has been in the sink for retire_after", function()
    local old, new = pw(62), pw(0.5)
    local records = { password1 = delivered(old), password2 = delivered(new) }
    local d = decide(nil, { password1 = old, password2 = new }, records)
    assert.are.same({}, summary(d))
    assert.matches("password1 is retired from", d.notes[1])
    new = pw(1.5)
    records.password2 = delivered(new)
    d = decide(nil, { password1 = old, password2 = new }, records)
    assert.are.same({ "retire password1 (withdraw)" }, summary(d))
  end)

  it("never retires beside a password that was not delivered through the sink", function()
    local mine, theirs = pw(62), pw(5)
    -- password2 made outside the tool is fresh, but the sink does not have it: the sink's
    -- stale password1 is what consumers use, so password2 is generated again instead
    local d = decide(nil, { password1 = mine, password2 = theirs }, { password1 = delivered(mine) })
    assert.are.same({ "rotate password2" }, summary(d))
  end)

  it("with both slots the sink's and due, rotates into the older", function()
    local older, newer = pw(75), pw(62)
    local d = decide(nil, { password1 = newer, password2 = older },
      { password1 = delivered(newer), password2 = delivered(older) })
    assert.are.same({ "rotate password2 (withdraw)" }, summary(d))
    assert.matches("password1 is retired 1d after the new password2", d.notes[1])
  end)

  it("does not overwrite the sink's only working password", function()
    -- both stale, the older is the sink's: the newer one, not the sink's, is written
    local mine, theirs = pw(70), pw(65)
    local d = decide(nil, { password1 = mine, password2 = theirs }, { password1 = delivered(mine) })
    assert.are.same({ "rotate password2" }, summary(d))
  end)

  it("reports a token whose two slots both hold passwords it did not deliver", function()
    local d = decide(nil, { password1 = pw(70), password2 = pw(65) }, {})
    assert.are.same({ "problem" }, summary(d))
    assert.matches("free a slot", d.problems[1])
  end)

  it("puts a new password beside an expired one not its own, and retires that", function()
    assert.are.same({ "rotate password2", "retire password1 (same run)" },
      summary(decide(nil, { password1 = pw(100) }, {})))
    assert.are.same({ "rotate password1", "retire password2 (same run)" },
      summary(decide(nil, { password1 = pw(100), password2 = pw(95) }, {})))
  end)

  it("repairs a generation no sink confirmed, and touches nothing else", function()
    local mine, lost = pw(62), pw(0)
    local d = decide(nil, { password1 = mine, password2 = lost },
      { password1 = delivered(mine), password2 = { state = "generated", created = lost.created } })
    assert.are.same({ "rotate password2 (withdraw)" }, summary(d))
    assert.is_true(d.rotate[1].repair)
    -- an intent whose answer never came: the password in the slot made after it
    d = decide(nil, { password1 = mine, password2 = lost },
      { password1 = delivered(mine), password2 = { state = "intended", at = lost.created - 5 } })
    assert.are.same({ "rotate password2 (withdraw)" }, summary(d))
    assert.is_true(d.rotate[1].repair)
  end)

  it("retires the other slot with the repair when retire_after is 0", function()
    local mine, lost = pw(62), pw(0)
    local d = decide({ retire_after = 0 }, { password1 = mine, password2 = lost },
      { password1 = delivered(mine), password2 = { state = "generated", created = lost.created } })
    assert.are.same({ "rotate password2 (withdraw)", "retire password1 (withdraw) (same run)" }, summary(d))
  end)

  it("does not take a password made long after a stale intent for its own", function()
    local mine, later = pw(62), pw(3)
    local d = decide(nil, { password1 = mine, password2 = later },
      { password1 = delivered(mine), password2 = { state = "intended", at = NOW - 20 * DAY } })
    for _, r in ipairs(d.rotate) do assert.is_nil(r.repair) end
  end)

  it("never rotates a password that never expires, unless it is not the sink's", function()
    local forever = { created = NOW - 400 * DAY }
    assert.are.same({}, summary(decide(nil, { password1 = forever }, { password1 = delivered(forever) })))
  end)
end)

describe("acr.desired.rotation, slots: 2", function()
  local two = { slots = 2 }

  it("fills both empty slots", function()
    assert.are.same({ "rotate password1", "rotate password2" }, summary(decide(two, {})))
  end)

  it("rotates one stale slot a run, and the other only after retire_after", function()
    local a, b = pw(61), pw(61)
    local d = decide(two, { password1 = a, password2 = b }, { password1 = delivered(a), password2 = delivered(b) })
    assert.are.same({ "rotate password1 (withdraw)" }, summary(d))
    -- right after: password1 is new; password2 waits until it has been in the sink a day
    local a2 = { created = NOW, expiry = NOW + 90 * DAY }
    d = decide(two, { password1 = a2, password2 = b }, { password1 = delivered(a2), password2 = delivered(b) })
    assert.are.same({}, summary(d))
    assert.matches("password2 needs a new password", d.notes[1])
    d = decide(two, { password1 = a2, password2 = b }, { password1 = delivered(a2), password2 = delivered(b) },
      NOW + DAY + 1)
    assert.are.same({ "rotate password2 (withdraw)" }, summary(d))
  end)

  it("writes the slot not in the sink beside the sink's settled one", function()
    -- password1 is the sink's and due; password2 was made elsewhere and is younger: the
    -- rule lets password2 be written (password1 has been in the sink long enough)
    local mine, theirs = pw(70), pw(10)
    local d = decide(two, { password1 = mine, password2 = theirs }, { password1 = delivered(mine) })
    assert.are.same({ "rotate password2" }, summary(d))
  end)

  it("fills an empty slot and makes an expired one again in the same run", function()
    local dead = pw(95)
    assert.are.same({ "rotate password1", "rotate password2 (withdraw)" },
      summary(decide(two, { password2 = dead }, { password2 = delivered(dead) })))
  end)

  it("regenerates both when both have expired", function()
    local a, b = pw(95), pw(92)
    assert.are.same({ "rotate password1 (withdraw)", "rotate password2 (withdraw)" },
      summary(decide(two, { password1 = a, password2 = b }, { password1 = delivered(a), password2 = delivered(b) })))
  end)
end)

describe("acr.desired.rotation over time", function()
  -- Runs the policy every `step` seconds for `days`, applying each decision as an
  -- apply would (a generation is delivered at once), and checks at every step that no
  -- password the sink holds is destroyed unless another delivered one has been there
  -- for retire_after, and that the sink always holds a working password once it has one.
  local function simulate(pol, step, days)
    pol = policy(pol)
    local slots, records, sink = {}, {}, {}
    local now = NOW
    local function destroy(s, why)
      if sink[s] and slots[s] and (slots[s].expiry == nil or slots[s].expiry > now) then
        local o = rotation.OTHER[s]
        local ok = sink[o] and slots[o] and (slots[o].expiry == nil or slots[o].expiry > now)
          and now >= slots[o].created + pol.retire_after
        assert.is_truthy(ok, ("%s destroyed (%s) at day %.2f with no settled password beside it")
          :format(s, why, (now - NOW) / DAY))
      end
      slots[s], records[s], sink[s] = nil, nil, nil
    end
    local rotations = 0
    while now < NOW + days * DAY do
      local d = rotation.decide(pol, slots, records, now)
      assert.are.same({}, d.problems)
      for _, r in ipairs(d.rotate) do
        destroy(r.slot, "rotate")
        slots[r.slot] = { created = now, expiry = pol.lifetime and now + pol.lifetime }
        records[r.slot] = { state = "delivered", created = now }
        sink[r.slot] = true
        rotations = rotations + 1
      end
      for _, r in ipairs(d.retire) do destroy(r.slot, "retire") end
      -- right after an apply the plan is settled: nothing more to do at the same time
      local again = rotation.decide(pol, slots, records, now)
      assert.are.same({}, again.rotate)
      assert.are.same({}, again.retire)
      local working = false
      for s in pairs(sink) do
        if slots[s].expiry == nil or slots[s].expiry > now then working = true end
      end
      assert.is_true(working, ("the sink holds no working password at day %.2f"):format((now - NOW) / DAY))
      now = now + step
    end
    return rotations
  end

  it("slots: 1 rotates about once per lifetime - rotate_before, over two years", function()
    local n = simulate(nil, 6 * 3600, 730)
    assert.is_true(n >= 12 and n <= 14, tostring(n))
  end)

  it("slots: 1 with retire_after 0", function()
    assert.is_true(simulate({ retire_after = 0 }, DAY, 365) > 5)
  end)

  it("slots: 2, daily runs", function()
    assert.is_true(simulate({ slots = 2 }, DAY, 730) > 20)
  end)

  it("a short lifetime and a grace longer than the time left", function()
    simulate({ lifetime = 10 * DAY, rotate_before = 3 * DAY, retire_after = 2 * DAY }, 3600, 90)
  end)
end)
