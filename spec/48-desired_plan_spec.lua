-- acr.plan and plan:apply against the emulator, with two registries in two
-- subscriptions: creates from empty, an empty plan after an apply, actions as sets,
-- field-by-field updates, prune, and password rotation through the two slots with a
-- sink whose every password works at every moment (checked against the emulator's
-- login at each delivery and withdrawal).
local ch = require "client_helpers"
local helpers = ch.helpers
local acr = require "acr"
local desired = require "acr.desired"

local SUB2, RG2, REG2 = "22222222-2222-2222-2222-222222222222", "rg-two", "secondregistry"
local DAY = 86400

describe("desired state: plan and apply #emulator", function()
  local em, clients, tmp

  setup(function()
    em = helpers.start_emulator{ retry_after = 0, polls = 0 }
    tmp = helpers.tmpdir("desired")
  end)
  teardown(function()
    for _, c in ipairs(clients or {}) do c:close() end
    if em then em:stop() end
    if tmp then helpers.rmdir(tmp) end
  end)

  local function make_clients()
    for _, c in ipairs(clients or {}) do c:close() end
    clients = { ch.client(em), ch.client(em, { subscription_id = SUB2, resource_group = RG2, registry = REG2 }) }
  end

  before_each(function()
    em:reset()
    em:admin("POST", "clock", { advance = 0 })
    assert(em:add_registry(SUB2, RG2, REG2))
    make_clients()
  end)

  -- The file as a script writes it: the default registry and the second one.
  local function file(over)
    local t = {
      registries = {
        { subscription = ch.SUB, resource_group = ch.RG, name = ch.REG,
          scope_maps = {
            ["app-pull"] = { actions = { "repositories/app/content/read", "repositories/app/metadata/read" },
                             description = "pull app" },
          },
          tokens = {
            ["app-ci"] = { scope_map = "app-pull", status = "enabled",
                           passwords = { lifetime = "90d", rotate_before = "30d", retire_after = "1d" } },
            ["app-scan"] = { scope_map = "_repositories_pull" },
          } },
        { subscription = SUB2, resource_group = RG2, name = REG2,
          scope_maps = { ["dev-pull"] = { actions = { "repositories/dev/content/read" } } },
          tokens = { ["dev-ci"] = { scope_map = "dev-pull" } } },
      },
    }
    if over then over(t) end
    return assert(desired.check(t))
  end

  local function works(sub, reg, user, password) return ch.login_works(em, sub, reg, user, password) end

  -- A sink that keeps what it holds, and checks at every call that all of it works.
  local function checked_sink()
    local held, log = {}, {}
    local s = { held = held, log = log, broken = {} }
    local function check_all(when)
      for k, sec in pairs(held) do
        if not works(sec.subscription, sec.registry, sec.username, sec.password) then
          s.broken[#s.broken + 1] = when .. ": " .. k
        end
      end
    end
    function s.deliver(_, secret)
      check_all("before deliver")
      held[secret.registry .. "/" .. secret.token .. "/" .. secret.slot] = secret
      log[#log + 1] = "deliver " .. secret.token .. " " .. secret.slot
      check_all("after deliver")
      return true
    end
    function s.withdraw(_, ref)
      check_all("before withdraw")
      held[ref.registry .. "/" .. ref.token .. "/" .. ref.slot] = nil
      log[#log + 1] = "withdraw " .. ref.token .. " " .. ref.slot
      return true
    end
    s.ledger = desired.ledger.memory()
    return s
  end

  -- Time passes by s seconds: the emulator ages every time it holds, and the ledger's
  -- times (the client's own record) age with them.
  local function advance(s, ...)
    em:admin("POST", "clock", { advance = s })
    for _, l in ipairs { ... } do ch.age_ledger(l, s) end
  end

  local function ledger_key(token) return desired.ledger.key(ch.SUB, ch.RG, ch.REG, token) end

  local function actions_of(p)
    local out = {}
    for _, c in ipairs(p.changes) do
      out[#out + 1] = c.action .. " " .. c.kind .. " " .. c.name .. (c.slot and (" " .. c.slot) or "")
    end
    table.sort(out)
    return out
  end

  it("plans creates for empty registries, applies them, then plans nothing", function()
    local sink = checked_sink()
    local p = assert(acr.plan(clients, file(), { sink = sink }))
    assert.are.same({
      "create scope_map app-pull", "create scope_map dev-pull", "create token app-ci",
      "create token app-scan", "create token dev-ci", "rotate token app-ci password1",
    }, actions_of(p))
    local result = p:apply{}
    assert.is_true(result.ok, tostring((result.changes[1] or {}).err))
    assert.are.equal(6, result.succeeded)
    assert.are.same({ "deliver app-ci password1" }, sink.log)
    assert.are.same({}, sink.broken)
    local again = assert(acr.plan(clients, file(), { sink = sink }))
    assert.is_true(again:is_empty(), tostring(again))
    -- what was made is what the file says, in each registry
    local sm = assert(clients[1]:get_scope_map("app-pull"))
    assert.are.equal("pull app", sm.description)
    assert.is_truthy(clients[2]:get_token("dev-ci"))
    assert.is_nil((clients[1]:get_token("dev-ci")))
  end)

  it("compares actions as sets and updates only the fields that differ", function()
    local sink = checked_sink()
    assert.is_true(assert(acr.plan(clients, file(), { sink = sink })):apply{}.ok)
    local reordered = file(function(t)
      t.registries[1].scope_maps["app-pull"].actions = { "repositories/app/metadata/read",
        "repositories/app/content/read", "repositories/app/content/read" }
    end)
    assert.is_true(assert(acr.plan(clients, reordered, { sink = sink })):is_empty())
    local described = file(function(t) t.registries[1].scope_maps["app-pull"].description = "new words" end)
    local p = assert(acr.plan(clients, described, { sink = sink }))
    assert.are.same({ "update scope_map app-pull" }, actions_of(p))
    assert.are.same({ { field = "description", from = "pull app", to = "new words" } }, p.changes[1].fields)
    assert.is_true(p:apply{}.ok)
    assert.are.equal("new words", clients[1]:get_scope_map("app-pull").description)
    local disabled = file(function(t)
      t.registries[1].scope_maps["app-pull"].description = "new words"
      t.registries[2].tokens["dev-ci"].status = "disabled"
    end)
    p = assert(acr.plan(clients, disabled, { sink = sink }))
    assert.are.same({ "update token dev-ci" }, actions_of(p))
    assert.is_true(p:apply{}.ok)
    assert.are.equal("disabled", clients[2]:get_token("dev-ci").status)
  end)

  it("prunes only with prune: true and the prune option, and never system or used scope maps", function()
    local sink = checked_sink()
    assert.is_true(assert(acr.plan(clients, file(), { sink = sink })):apply{}.ok)
    assert(clients[1]:create_scope_map("stray-map", { actions = { "repositories/x/content/read" } }))
    assert(clients[1]:create_token("stray-tok", { scope_map = "stray-map" }))
    assert(clients[2]:create_token("other-tok", { scope_map = "dev-pull" }))
    local pruning = file(function(t) t.registries[1].prune = true end)
    -- without the option: notes only
    local p = assert(acr.plan(clients, pruning, { sink = sink }))
    assert.is_true(p:is_empty())
    assert.are.equal(2, #p.notes)
    -- with it: the unlisted user objects of the prune: true registry, token first
    p = assert(acr.plan(clients, pruning, { sink = sink, prune = true }))
    assert.are.same({ "delete scope_map stray-map", "delete token stray-tok" }, actions_of(p))
    local tok_delete, sm_delete
    for _, c in ipairs(p.changes) do
      if c.kind == "token" then tok_delete = c else sm_delete = c end
    end
    assert.are.same({ tok_delete.id }, sm_delete.after)
    assert.is_true(p:apply{}.ok)
    assert.is_nil((clients[1]:get_token("stray-tok")))
    assert.is_nil((clients[1]:get_scope_map("stray-map")))
    assert.is_truthy(clients[1]:get_scope_map("_repositories_pull"))
    assert.is_truthy(clients[2]:get_token("other-tok"))   -- its registry does not prune
  end)

  it("rotates into the free slot, and retires the old password only after retire_after", function()
    local sink = checked_sink()
    assert.is_true(assert(acr.plan(clients, file(), { sink = sink })):apply{}.ok)
    local first = sink.held[ch.REG .. "/app-ci/password1"]
    -- 61 days on, password1 expires within rotate_before (30 of its 90 days are left)
    advance(61 * DAY, sink.ledger)
    local p = assert(acr.plan(clients, file(), { sink = sink }))
    assert.are.same({ "rotate token app-ci password2" }, actions_of(p))
    assert.matches("within rotate_before", p.changes[1].reason)
    assert.is_true(p:apply{}.ok)
    assert.is_truthy(sink.held[ch.REG .. "/app-ci/password2"])
    -- both work during the grace time; the plan shows the retirement as waiting
    assert.is_true(works(ch.SUB, ch.REG, "app-ci", first.password))
    p = assert(acr.plan(clients, file(), { sink = sink }))
    assert.is_true(p:is_empty(), tostring(p))
    assert.matches("password1 is retired from", p.notes[1].message)
    advance(DAY + 60, sink.ledger)
    p = assert(acr.plan(clients, file(), { sink = sink }))
    assert.are.same({ "retire token app-ci password1" }, actions_of(p))
    assert.is_true(p:apply{}.ok)
    assert.is_false(works(ch.SUB, ch.REG, "app-ci", first.password))
    assert.is_nil(sink.held[ch.REG .. "/app-ci/password1"])
    assert.are.same({ "deliver app-ci password1", "deliver app-ci password2", "withdraw app-ci password1" }, sink.log)
    assert.are.same({}, sink.broken)
    assert.is_true(assert(acr.plan(clients, file(), { sink = sink })):is_empty())
  end)

  it("keeps the old password when the sink fails, and generates the same slot again next time", function()
    local sink = checked_sink()
    assert.is_true(assert(acr.plan(clients, file(), { sink = sink })):apply{}.ok)
    local first = sink.held[ch.REG .. "/app-ci/password1"]
    advance(61 * DAY, sink.ledger)
    local failing = { ledger = sink.ledger, withdraw = sink.withdraw,
                      deliver = function() return nil, "the store is read-only" end }
    local p = assert(acr.plan(clients, file(), { sink = failing }))
    local result = p:apply{}
    assert.is_false(result.ok)
    assert.are.equal(1, result.failed)
    assert.matches("the sink did not take it", tostring(result.changes[1].err.message))
    assert.is_true(works(ch.SUB, ch.REG, "app-ci", first.password))
    -- the next plan repairs password2 and leaves password1 alone
    p = assert(acr.plan(clients, file(), { sink = sink }))
    assert.are.same({ "rotate token app-ci password2" }, actions_of(p))
    assert.matches("no sink confirmed it", p.changes[1].reason)
    local before = clients[1]:get_token("app-ci").credentials.passwords
    assert.is_true(p:apply{}.ok)
    local after = clients[1]:get_token("app-ci").credentials.passwords
    local function created(list, name)
      for _, pw in ipairs(list) do if pw.name == name then return pw.creation_time end end
    end
    assert.are.equal(created(before, "password1"), created(after, "password1"))
    assert.is_true(works(ch.SUB, ch.REG, "app-ci", first.password))
    assert.is_true(works(ch.SUB, ch.REG, "app-ci", sink.held[ch.REG .. "/app-ci/password2"].password))
    assert.are.same({}, sink.broken)
  end)

  it("a sink that cannot withdraw stops the rotation before anything is sent, and keeps its record", function()
    local two = function(t) t.registries[1].tokens["app-ci"].passwords.slots = 2 end
    local sink = checked_sink()
    assert.is_true(assert(acr.plan(clients, file(two), { sink = sink })):apply{}.ok)
    advance(61 * DAY, sink.ledger)
    local before = clients[1]:get_token("app-ci").credentials.passwords
    local stuck = { ledger = sink.ledger, deliver = sink.deliver,
                    withdraw = function() error("the vault is sealed") end }
    local p = assert(acr.plan(clients, file(two), { sink = stuck }))
    assert.are.same({ "rotate token app-ci password1" }, actions_of(p))
    local mark = ch.log_mark(em)
    local result = p:apply{}
    assert.is_false(result.ok)
    assert.matches("did not withdraw password1 .*the vault is sealed", tostring(result.changes[1].err.message))
    for _, e in ipairs(ch.log_since(em, mark)) do assert.are_not.equal("POST", e.method) end
    assert.are.equal("delivered", sink.ledger:get(ledger_key("app-ci"), "password1").state)
    assert.are.same(before, clients[1]:get_token("app-ci").credentials.passwords)
    -- with a sink that works, the same rotation, withdrawing first
    p = assert(acr.plan(clients, file(two), { sink = sink }))
    assert.is_true(p.changes[1].withdraw)
    assert.is_true(p:apply{}.ok)
    assert.are.same({}, sink.broken)
  end)

  it("fails a rotation without a sink, generating nothing, and reports what cannot be planned", function()
    local p = assert(acr.plan(clients, file()))
    local result = p:apply{}
    assert.is_false(result.ok)
    local codes = {}
    for _, r in ipairs(result.changes) do if not r.ok then codes[#codes + 1] = r.err.code end end
    assert.are.same({ "NoSink" }, codes)
    assert.are.equal(0, #(clients[1]:get_token("app-ci").credentials.passwords or {}))
    local missing = file(function(t) t.registries[2].tokens["dev-ci"].scope_map = "nowhere-map" end)
    p = assert(acr.plan(clients, missing))
    assert.are.equal(1, #p.failures)
    assert.matches("nowhere%-map", p.failures[1].message)
    assert.is_false(p:is_empty())
  end)

  it("takes the first changes from the registries in turn", function()
    local mark = ch.log_mark(em)
    assert.is_true(assert(acr.plan(clients, file(), { sink = checked_sink() })):apply{ width = 1 }.ok)
    local regs = {}
    for _, e in ipairs(ch.log_since(em, mark)) do
      if e.method == "PUT" then regs[#regs + 1] = e.path:match("/registries/([^/]+)/") end
    end
    -- one operation at a time: app-pull (first registry), dev-pull (second), then on
    assert.are.same({ ch.REG, REG2 }, { regs[1], regs[2] })
  end)

  it("skips what follows a failed change and runs the rest", function()
    em:fail_next{ name = "app-pull", code = "InternalError", message = "the scope map failed" }
    local sink = checked_sink()
    local result = assert(acr.plan(clients, file(), { sink = sink })):apply{}
    local by = {}
    for _, r in ipairs(result.changes) do
      by[r.change.action .. " " .. r.change.name .. (r.change.slot or "")] = r.ok and "ok" or (r.skipped and "skipped" or "failed")
    end
    assert.are.equal("failed", by["create app-pull"])
    assert.are.equal("skipped", by["create app-ci"])
    assert.are.equal("skipped", by["rotate app-cipassword1"])
    assert.are.equal("ok", by["create dev-ci"])
    assert.are.equal("ok", by["create app-scan"])
  end)

  it("fails a registry whose listing breaks the rules, and plans the other", function()
    local path = em:registry_path(SUB2, RG2, REG2) .. "/tokens"
    em:admin("POST", "inject", { path = path, method = "GET", times = 1,
      body = '{"value":[{"id":"' .. em:registry_path(SUB2, RG2, REG2) .. '/tokens/x","name":"../x","properties":{}}]}' })
    local p = assert(acr.plan(clients, file(), { sink = checked_sink() }))
    assert.are.equal(1, #p.failures)
    assert.are.equal("InvalidResponse", p.failures[1].err.code)
    assert.are.equal(REG2, p.failures[1].registry.name)
    for _, c in ipairs(p.changes) do assert.are.equal(ch.REG, c.registry.name) end
    em:admin("POST", "inject", { path = path, method = "GET", times = 1,
      body = '{"value":[{"name":"dev-ci","properties":{"scopeMapId":"/subscriptions/x/resourceGroups/y/providers/'
        .. 'Microsoft.ContainerRegistry/registries/other/scopeMaps/dev-pull"}}]}' })
    p = assert(acr.plan(clients, file(), { sink = checked_sink() }))
    assert.matches("not of this registry", p.failures[1].message)
  end)

  it("applies a plan once, and only with the sink whose ledger it was made with", function()
    local sink = checked_sink()
    local p = assert(acr.plan(clients, file(), { sink = sink }))
    assert.is_true(p:apply{}.ok)
    ch.raises("bad argument #1 to 'apply' %(this plan was applied already", p.apply, p, {})
    -- a plan made without a sink takes one at apply only if its ledger has no record
    local bare = assert(acr.plan(clients, file()))
    ch.raises("bad argument #2 to 'apply' %(option 'sink' is not the sink the plan was made with",
      bare.apply, bare, { sink = sink })
    local fresh = checked_sink()
    assert.is_true(bare:apply{ sink = fresh }.ok)
  end)

  it("raises on misuse in the one shape", function()
    ch.raises("bad argument #1 to 'acr.plan' %(acr.Client", acr.plan, 42, file())
    ch.raises("bad argument #3 to 'acr.plan' %(unknown option 'bogus'%)", acr.plan, clients, file(), { bogus = 1 })
    ch.raises("bad argument #3 to 'acr.plan' %(option 'sink'", acr.plan, clients, file(), { sink = 5 })
  end)
end)
