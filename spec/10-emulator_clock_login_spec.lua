-- acr-emulator: /__admin/clock (every stored time aged, so time seems to pass) and
-- /__admin/login (a token password checked as a registry would at login).
package.path = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/?.lua;" .. package.path
local helpers = require "helpers"
local time = require "acr.time"

describe("acr-emulator clock and login #emulator", function()
  local em, REG
  local SUB, RG, NAME = "sub-clk", "rg-clk", "clkregistry"

  local function sm(name) return REG .. "/scopeMaps/" .. name end
  local function tok(name) return REG .. "/tokens/" .. name end

  local function make_token(name)
    local s = em:arm("PUT", sm("clk-map"), { body = { properties = { actions = { "repositories/a/content/read" } } } })
    assert.is_true(s == 200 or s == 201)
    s = em:arm("PUT", tok(name), { body = { properties = { scopeMapId = sm("clk-map") } } })
    assert.is_true(s == 200 or s == 201)
  end

  -- generateCredentials: the passwords' values by slot
  local function generate(name, body)
    body = body or {}
    body.tokenId = tok(name)
    local s, _, text, j = em:arm("POST", REG .. "/generateCredentials", { body = body })
    assert.are.equal(200, s, text)
    local out = {}
    for _, p in ipairs(j.passwords) do out[p.name] = p end
    return out
  end

  local function get_token(name)
    local s, _, text, j = em:arm("GET", tok(name))
    assert.are.equal(200, s, text)
    return j, text
  end

  local function login(t)
    local j, s = em:admin("POST", "login", t)
    return s, j
  end

  local function clock(advance)
    if advance == nil then return em:admin("GET", "clock") end
    return em:admin("POST", "clock", { advance = advance })
  end

  setup(function()
    em = helpers.start_emulator { retry_after = 0, polls = 0, registries = { SUB .. "/" .. RG .. "/" .. NAME } }
    REG = em:registry_path(SUB, RG, NAME)
  end)

  lazy_teardown(function()
    if em then em:stop() end
  end)

  before_each(function() em:reset() end)

  describe("clock", function()
    it("starts at 0, adds up the advances, and reset puts it back", function()
      assert.are.same({ offset = 0 }, (clock()))
      local j, s = clock(3600)
      assert.are.equal(200, s)
      assert.are.same({ offset = 3600 }, j)
      assert.are.same({ offset = 3600 + 0.5 }, (clock(0.5)))
      assert.are.same({ offset = 3600.5 }, (clock(0)))
      assert.are.same({ offset = 3600.5 }, (clock()))
      em:reset()
      assert.are.same({ offset = 0 }, (clock()))
    end)

    it("ages every stored time by the advance", function()
      make_token("clk-token")
      local expiry = time.iso(os.time() + 10 * 86400)
      generate("clk-token", { expiry = expiry })
      local before = get_token("clk-token")
      local _, _, _, map_before = em:arm("GET", sm("clk-map"))
      local _, _, _, pull_before = em:arm("GET", sm("_repositories_pull"))
      clock(86400)
      local after = get_token("clk-token")
      local _, _, _, map_after = em:arm("GET", sm("clk-map"))
      local _, _, _, pull_after = em:arm("GET", sm("_repositories_pull"))

      local function moved(a, b)
        local ta, tb = assert(time.epoch(a), a), assert(time.epoch(b), b)
        assert.is_true(math.abs(ta - tb - 86400) < 0.01, a .. " -> " .. b)
      end
      moved(before.properties.creationDate, after.properties.creationDate)
      moved(map_before.properties.creationDate, map_after.properties.creationDate)
      moved(pull_before.properties.creationDate, pull_after.properties.creationDate)
      local pb, pa = before.properties.credentials.passwords, after.properties.credentials.passwords
      assert.are.equal(2, #pa)
      for i = 1, 2 do
        assert.are.equal(pb[i].name, pa[i].name)
        moved(pb[i].creationTime, pa[i].creationTime)
        moved(pb[i].expiry, pa[i].expiry)
      end
      -- what is made afterwards is dated by the real clock
      local new = generate("clk-token", { name = "password2" }).password2
      assert.is_true(math.abs(time.epoch(new.creationTime) - os.time()) < 5)
      assert.is_true(time.epoch(get_token("clk-token").properties.credentials.passwords[1].creationTime)
        < os.time() - 86000)
    end)

    it("refuses a bad advance and changes nothing", function()
      make_token("clk-bad")
      generate("clk-bad")
      local _, before = get_token("clk-bad")
      for _, body in ipairs { {}, { advance = -1 }, { advance = "60" }, { advance = true },
        { advance = 1e12 }, { advance = 60, extra = 1 } } do
        local j, s = em:admin("POST", "clock", body)
        assert.are.equal(400, s)
        assert.is_string(j.error.message)
      end
      local _, s = em:admin("POST", "clock", nil)
      assert.are.equal(400, s)
      local _, after = get_token("clk-bad")
      assert.are.equal(before, after)
      assert.are.same({ offset = 0 }, (clock()))
    end)
  end)

  describe("login", function()
    local function creds(name, password)
      return { registry = NAME, username = name, password = password }
    end

    it("takes a generated password of an enabled token, and no other", function()
      make_token("login-token")
      local p = generate("login-token")
      local s, j = login(creds("login-token", p.password1.value))
      assert.are.equal(200, s)
      assert.are.same({ ok = true, slot = "password1" }, j)
      s, j = login(creds("login-token", p.password2.value))
      assert.are.same({ 200, "password2" }, { s, j.slot })
      -- the login server, another spelling, the subscription
      s = login({ registry = NAME:upper() .. ".azurecr.io", username = "LOGIN-TOKEN",
        password = p.password1.value, subscription = SUB:upper() })
      assert.are.equal(200, s)

      for _, c in ipairs {
        { creds("login-token", p.password1.value .. "x"), "wrong password" },
        { creds("login-token", p.password1.value:lower()), "wrong password" },
        { creds("other-token", p.password1.value), "no such token" },
        { { registry = "nosuchregistry", username = "login-token", password = p.password1.value },
          "no such registry" },
        { { registry = NAME, subscription = "sub-other", username = "login-token",
            password = p.password1.value }, "no such registry" },
      } do
        s, j = login(c[1])
        assert.are.equal(401, s)
        assert.are.same({ ok = false, reason = c[2] }, j)
      end
    end)

    it("stops taking a password that is overwritten or removed", function()
      make_token("rot-token")
      local first = generate("rot-token")
      local second = generate("rot-token", { name = "password1" }).password1
      assert.are.equal(401, (login(creds("rot-token", first.password1.value))))
      assert.are.equal(200, (login(creds("rot-token", second.value))))
      assert.are.equal(200, (login(creds("rot-token", first.password2.value))))
      -- a PATCH that keeps password2 only (with a new expiry): password1 goes
      local expiry = time.iso(os.time() + 86400)
      local s = em:arm("PATCH", tok("rot-token"), { body = { properties = { credentials = {
        passwords = { { name = "password2", expiry = expiry } } } } } })
      assert.is_true(s == 200 or s == 201)
      assert.are.equal(401, (login(creds("rot-token", second.value))))
      assert.are.equal(200, (login(creds("rot-token", first.password2.value))))
      -- a PATCH that names a slot with no password makes no value for it
      em:arm("PATCH", tok("rot-token"), { body = { properties = { credentials = {
        passwords = { { name = "password1" }, { name = "password2" } } } } } })
      assert.are.equal(200, (login(creds("rot-token", first.password2.value))))
      assert.are.equal(401, (login(creds("rot-token", second.value))))
      -- the token deleted: nothing logs in
      em:settings { lro_style = "body" }
      em:arm("DELETE", tok("rot-token"))
      em:settings { lro_style = "realistic" }
      local _, j = login(creds("rot-token", first.password2.value))
      assert.are.equal("no such token", j.reason)
    end)

    it("refuses a disabled token and an expired password", function()
      make_token("exp-token")
      local p = generate("exp-token", { expiry = time.iso(os.time() + 600) })
      local q = generate("exp-token", { name = "password2" }).password2   -- never expires
      em:arm("PATCH", tok("exp-token"), { body = { properties = { status = "disabled" } } })
      local s, j = login(creds("exp-token", p.password1.value))
      assert.are.same({ 401, "the token is disabled" }, { s, j.reason })
      em:arm("PATCH", tok("exp-token"), { body = { properties = { status = "enabled" } } })
      assert.are.equal(200, (login(creds("exp-token", p.password1.value))))
      clock(601)
      s, j = login(creds("exp-token", p.password1.value))
      assert.are.same({ 401, "password1 has expired" }, { s, j.reason })
      assert.are.equal(200, (login(creds("exp-token", q.value))))
    end)

    it("asks for the subscription when the name is in several", function()
      make_token("dup-token")
      local p = generate("dup-token")
      em:add_registry("sub-two", RG, NAME)
      local j, s = em:admin("POST", "login", creds("dup-token", p.password1.value))
      assert.are.equal(400, s)
      assert.matches("subscription", j.error.message)
      local c = creds("dup-token", p.password1.value)
      c.subscription = SUB
      assert.are.equal(200, (login(c)))
      c.subscription = "sub-two"
      assert.are.equal(401, (login(c)))
    end)

    it("refuses a malformed body", function()
      for _, body in ipairs { {}, { registry = NAME, username = "u" }, { registry = NAME, password = "p" },
        { username = "u", password = "p" }, { registry = NAME, username = "u", password = "" },
        { registry = NAME, username = "u", password = 5 },
        { registry = NAME, username = "u", password = "p", subscription = false } } do
        local j, s = em:admin("POST", "login", body)
        assert.are.equal(400, s)
        assert.is_string(j.error.message)
      end
      assert.are.equal(405, select(2, em:admin("GET", "login")))
    end)

    it("keeps no value where it can be read", function()
      make_token("quiet-token")
      local p = generate("quiet-token")
      local _, text = get_token("quiet-token")
      local _, _, list = em:arm("GET", REG .. "/tokens")
      for _, out in ipairs { text, list } do
        assert.is_nil(out:find(p.password1.value, 1, true))
        assert.is_nil(out:find("hash", 1, true))
      end
    end)
  end)
end)
