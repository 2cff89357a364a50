-- acr.time (the durations and times of desired state), then acr.desired.file: a
-- desired-state file read from YAML or JSON, checked and normalised, every invalid
-- input an acr.Error naming the file, the line and the field.
local helpers = require "helpers"
local acr = require "acr"
local time = require "acr.time"
local file = require "acr.desired.file"

local DAY = 86400

---------------------------------------------------------------------------
-- acr.time
---------------------------------------------------------------------------

describe("acr.time", function()
  it("reads RFC 3339 times as UTC epoch seconds", function()
    assert.equal(1798761600, time.epoch("2027-01-01T00:00:00Z"))
    assert.equal(0, time.epoch("1970-01-01T00:00:00Z"))
    assert.equal(951782400, time.epoch("2000-02-29T00:00:00z"))
    assert.equal(1798761600, time.epoch("2027-01-01 00:00:00"))       -- no offset: UTC
    assert.equal(1798761600, time.epoch("2027-01-01t00:00:00+00:00"))
    assert.equal(1798761600 + 5 * 3600 + 1800, time.epoch("2027-01-01T00:00:00-05:30"))
    assert.equal(1798761600 - 3600, time.epoch("2027-01-01T00:00:00+0100"))
    assert.near(1798761600.1234567, time.epoch("2027-01-01T00:00:00.1234567+00:00"), 1e-6)
    assert.equal(-86400, time.epoch("1969-12-31T00:00:00Z"))
  end)

  it("refuses what is not an RFC 3339 time", function()
    for _, s in ipairs { "2027-01-01", "2027-13-01T00:00:00Z", "2027-02-30T00:00:00Z",
      "2027-01-01T24:00:00Z", "2027-01-01T00:60:00Z", "2027-01-01T00:00:00.Z",
      "2027-01-01T00:00:00+1", "2027-01-01T00:00:00 UTC", "x", "" } do
      assert.is_nil(time.epoch(s), s)
    end
    assert.is_nil(time.epoch(1798761600))
    assert.is_nil(time.epoch(nil))
    assert.is_nil(time.epoch("2027-01-01T00:00:00Z" .. string.rep(" ", 60)))
  end)

  it("writes whole UTC seconds, and reads them back", function()
    assert.equal("2027-01-01T00:00:00Z", time.iso(1798761600))
    assert.equal("2027-01-01T00:00:00Z", time.iso(1798761600.9))
    assert.equal("1970-01-01T00:00:00Z", time.iso(0))
    local t = time.epoch("2031-07-15T13:45:59Z")
    assert.equal("2031-07-15T13:45:59Z", time.iso(t))
    assert.equal(t, time.epoch(time.iso(t)))
  end)

  it("reads short and ISO 8601 durations", function()
    local cases = { ["30d"] = 30 * DAY, ["12h"] = 43200, ["1d12h"] = 129600, ["90m"] = 5400,
      ["45s"] = 45, ["2w"] = 14 * DAY, ["1w2d3h4m5s"] = 9 * DAY + 3 * 3600 + 245, ["0s"] = 0,
      P30D = 30 * DAY, PT12H = 43200, P1DT12H = 129600, P2W = 14 * DAY, PT1M = 60,
      P1DT2H30M = DAY + 9000, ["PT0.5S"] = 0.5, PT90M = 5400 }
    for s, want in pairs(cases) do assert.equal(want, time.duration(s), s) end
  end)

  it("refuses years and months, whose length is not fixed, with a reason", function()
    for _, s in ipairs { "P1Y", "P1M", "P1Y2D", "P2M3DT4H" } do
      local v, err = time.duration(s)
      assert.is_nil(v, s)
      assert.matches("years and months have no fixed length", err, 1, true)
    end
  end)

  it("refuses what is not a duration", function()
    for _, s in ipairs { "30", "30x", "1h1d", "1d1d", "d", "1.5d", "P", "PT", "P1DT", "P1H",
      "PT1D", "-1d", " 1d", "1d ", string.rep("1", 65) .. "s" } do
      local v, err = time.duration(s)
      assert.is_nil(v, s)
      assert.is_string(err)
    end
    assert.is_nil((time.duration(30)))
    assert.is_nil((time.duration("")))
    assert.matches("'30x' is not a duration", select(2, time.duration("30x")), 1, true)
  end)

  it("writes spans for messages", function()
    assert.equal("1d12h", time.span(129600))
    assert.equal("30d", time.span(30 * DAY))
    assert.equal("1d1h1m1s", time.span(90061))
    assert.equal("45s", time.span(45))
    assert.equal("1m", time.span(59.6))
    assert.equal("0s", time.span(0))
    assert.equal("0s", time.span(-5))
    assert.equal(129600, time.duration(time.span(129600)))
  end)
end)

---------------------------------------------------------------------------
-- the core's rules, as predicates
---------------------------------------------------------------------------

describe("acr._valid_name and acr._valid_action", function()
  it("apply the rules the client applies", function()
    assert.is_true(acr._valid_name("registry", "prodregistry"))
    assert.is_false(acr._valid_name("registry", "prod-registry"))
    assert.is_false(acr._valid_name("registry", "abcd"))
    assert.is_true(acr._valid_name("resource_group", "rg-prod_(1).x"))
    assert.is_false(acr._valid_name("resource_group", "rg."))
    assert.is_true(acr._valid_name("scope_map", "app_pull-1"))
    assert.is_false(acr._valid_name("token", "app_ci"))
    assert.is_true(acr._valid_name("token", "app-ci"))
    assert.is_false(acr._valid_name("token", 12345))
    assert.is_false(acr._valid_name("token", "app-c\0i"))
    assert.is_true(acr._valid_action("repositories/team/*/content/read"))
    assert.is_true(acr._valid_action("gateway/edge1/config/read"))
    assert.is_false(acr._valid_action("repositories/App/content/read"))
    assert.is_false(acr._valid_action(nil))
  end)

  it("raise on an unknown kind, in the module's shape", function()
    local ok, err = pcall(acr._valid_name, "registrie", "x")
    assert.is_false(ok)
    assert.matches("bad argument #1 to 'acr._valid_name' (kind 'registrie'", err, 1, true)
  end)
end)

---------------------------------------------------------------------------
-- acr.desired.file
---------------------------------------------------------------------------

local SUB = "11111111-1111-1111-1111-111111111111"
local SUB2 = "22222222-2222-2222-2222-222222222222"

local GOOD_YAML = [[
# every field
registries:
  - subscription: 11111111-1111-1111-1111-111111111111
    resource_group: rg-prod
    name: prodregistry
    prune: true
    scope_maps:
      app-pull:
        actions:
          - repositories/app/metadata/read
          - repositories/app/content/read
          - repositories/app/content/read
        description: Pull the app
      app-push:
        actions: [repositories/app/content/write]
    tokens:
      app-ci:
        scope_map: app-pull
        status: enabled
        passwords:
          slots: 2
          lifetime: 90d
          rotate_before: 30d
          retire_after: 12h
      app-bot:
        scope_map: _repositories_pull
        status: disabled
  - subscription: 22222222-2222-2222-2222-222222222222
    resource_group: 2024
    name: 12345registry
]]

local GOOD_JSON = [[
{"registries": [
  {"subscription": "11111111-1111-1111-1111-111111111111",
   "resource_group": "rg-prod",
   "name": "prodregistry",
   "prune": true,
   "scope_maps": {
     "app-pull": {
       "actions": ["repositories/app/metadata/read",
                   "repositories/app/content/read",
                   "repositories/app/content/read"],
       "description": "Pull the app"},
     "app-push": {"actions": ["repositories/app/content/write"]}},
   "tokens": {
     "app-ci": {"scope_map": "app-pull", "status": "enabled",
                "passwords": {"slots": 2, "lifetime": "90d", "rotate_before": "30d",
                              "retire_after": "12h"}},
     "app-bot": {"scope_map": "_repositories_pull", "status": "disabled"}}},
  {"subscription": "22222222-2222-2222-2222-222222222222",
   "resource_group": "2024",
   "name": "12345registry"}]}
]]

-- What both files read as, with the lines of each (nil: lines not compared).
local function expected(path, lines)
  lines = lines or {}
  return {
    file = path,
    registries = {
      { subscription = SUB, resource_group = "rg-prod", name = "prodregistry", prune = true,
        line = lines[1],
        scope_maps = {
          { name = "app-pull", description = "Pull the app", line = lines[2],
            actions = { "repositories/app/content/read", "repositories/app/metadata/read" } },
          { name = "app-push", actions = { "repositories/app/content/write" }, line = lines[3] },
        },
        tokens = {
          { name = "app-bot", scope_map = "_repositories_pull", status = "disabled",
            line = lines[4] },
          { name = "app-ci", scope_map = "app-pull", status = "enabled", line = lines[5],
            passwords = { slots = 2, lifetime = 90 * DAY, rotate_before = 30 * DAY,
                          retire_after = 43200 } },
        },
      },
      { subscription = SUB2, resource_group = "2024", name = "12345registry", prune = false,
        line = lines[6], scope_maps = {}, tokens = {} },
    },
  }
end

-- The error's shape, the same for every invalid input: d, err last, so that a call's
-- two results can be passed as they are.
local function assert_invalid(path, line, field, fragment, d, err)
  assert.is_nil(d)
  assert.is_true(acr.is_error(err), tostring(err))
  assert.equal("InvalidDesiredState", err.code)
  assert.equal(path, err.file)
  assert.equal(line, err.line, err.message)
  assert.equal(field, err.field, err.message)
  local shown = field and field:gsub("\n", "\\n")   -- the message escapes what the field holds
  local prefix = path .. (line and ":" .. line or "") .. ": " .. (shown and shown .. ": " or "")
  assert.equal(prefix, err.message:sub(1, #prefix), err.message)
  assert.matches(fragment, err.message:sub(#prefix + 1), 1, true)
  assert.is_nil(err.message:find("[%c]"), "one line: " .. err.message)
  assert.matches("^acr.Error: InvalidDesiredState: ", tostring(err))
end

describe("acr.desired.file", function()
  local dir

  lazy_setup(function() dir = helpers.tmpdir("acr-spec-desired") end)
  lazy_teardown(function() helpers.rmdir(dir) end)

  local function write(name, text)
    local path = dir .. "/" .. name
    helpers.write_file(path, text)
    return path
  end

  describe("a good file", function()
    it("reads examples/registries.yaml, the example of docs/DESIRED.md", function()
      local d = assert(file.load(helpers.root .. "/examples/registries.yaml"))
      assert.are.equal(2, #d.registries)
      local ci = d.registries[1].tokens[1]
      assert.are.equal("app-ci", ci.name)
      assert.are.same({ slots = 1, lifetime = 90 * 86400, rotate_before = 30 * 86400, retire_after = 86400 },
        ci.passwords)
      assert.are.equal(43200, d.registries[1].tokens[2].passwords.retire_after)
    end)

    it("reads YAML with every field, normalised, with the lines of each part", function()
      local path = write("good.yaml", GOOD_YAML)
      local d, err = file.load(path)
      assert.is_nil(err)
      assert.same(expected(path, { 3, 8, 14, 25, 17, 28 }), d)
    end)

    it("reads the same from JSON, with its lines", function()
      local path = write("good.json", GOOD_JSON)
      local d, err = file.load(path)
      assert.is_nil(err)
      assert.same(expected(path, { 2, 7, 12, 17, 14, 18 }), d)
    end)

    it("reads what a script writes, without lines", function()
      local d, err = file.check {
        registries = {
          { subscription = SUB, resource_group = "rg-prod", name = "prodregistry", prune = true,
            scope_maps = {
              ["app-pull"] = { description = "Pull the app", actions = {
                "repositories/app/metadata/read", "repositories/app/content/read",
                "repositories/app/content/read" } },
              ["app-push"] = { actions = { "repositories/app/content/write" } } },
            tokens = {
              ["app-ci"] = { scope_map = "app-pull", status = "enabled", passwords = {
                slots = 2, lifetime = "90d", rotate_before = "P30D", retire_after = "PT12H" } },
              ["app-bot"] = { scope_map = "_repositories_pull", status = "disabled" } } },
          { subscription = SUB2, resource_group = "2024", name = "12345registry" },
        },
      }
      assert.is_nil(err)
      assert.same(expected("(desired state)"), d)
    end)

    it("fills in the password defaults", function()
      local function policy(passwords)
        local d = assert(file.check({ registries = { { subscription = SUB, resource_group = "rg",
          name = "prodregistry", tokens = { ["app-ci"] = { scope_map = "app-pull",
            passwords = passwords } } } } }, "t"))
        return d.registries[1].tokens[1].passwords
      end
      assert.same({ slots = 1, rotate_before = 0, retire_after = DAY }, policy {})
      assert.same({ slots = 1, lifetime = 90 * DAY, rotate_before = 30 * DAY, retire_after = DAY },
        policy { lifetime = "90d" })
      assert.same({ slots = 1, lifetime = 10, rotate_before = 3, retire_after = DAY },
        policy { lifetime = "10s" })
      assert.same({ slots = 2, lifetime = 3600, rotate_before = 0, retire_after = 0 },
        policy { slots = 2, lifetime = "1h", rotate_before = 0, retire_after = "0s" })
      assert.same({ slots = 1, rotate_before = 600, retire_after = DAY },
        policy { rotate_before = "10m" })
      assert.is_nil(policy(nil))
    end)

    it("takes null as absent and keeps text that YAML would read as a number", function()
      local d = assert(file.parse(table.concat({
        "registries:",
        "  - subscription: " .. SUB,
        "    resource_group: 1.10",
        "    name: 12345",
        "    prune:",
        "    scope_maps:",
        "      app-pull: {actions: [repositories/app/content/read], description: 2.0}",
        "    tokens:",
        "      12345: {scope_map: app-pull, status: ~, passwords: {lifetime: 1d, retire_after: ~}}",
        "" }, "\n"), "x.yaml"))
      local r = d.registries[1]
      assert.equal("1.10", r.resource_group)
      assert.equal("12345", r.name)
      assert.is_false(r.prune)
      assert.equal("2.0", r.scope_maps[1].description)
      assert.equal("12345", r.tokens[1].name)
      assert.is_nil(r.tokens[1].status)
      assert.equal(DAY, r.tokens[1].passwords.retire_after)
    end)

    it("gives whole numbers as integers on Lua 5.4, from JSON too", function()
      if not math.type then return end
      local d = assert(file.parse('{"registries": [{"subscription": "' .. SUB .. '", '
        .. '"resource_group": "rg", "name": "prodregistry", "tokens": {"app-ci": {'
        .. '"scope_map": "app-pull", "passwords": {"slots": 2, "rotate_before": 0}}}}]}',
        "x.json"))
      local p = d.registries[1].tokens[1].passwords
      assert.equal("integer", math.type(p.slots))
      assert.equal("integer", math.type(p.rotate_before))
    end)

    it("chooses the format by extension, or as told; a BOM is skipped", function()
      local d = assert(file.parse(GOOD_JSON, "no-extension", "json"))
      assert.equal("no-extension", d.file)
      assert.equal(2, d.registries[1].line)
      d = assert(file.parse("\239\187\191" .. GOOD_JSON, "x.JSON"))
      assert.equal(2, d.registries[1].line)
      d = assert(file.parse(GOOD_YAML))
      assert.equal("(desired state)", d.file)
      assert.equal(3, d.registries[1].line)
      assert.truthy(file.load(write("bom.yml", "\239\187\191" .. GOOD_YAML)))
    end)

    it("reads valid JSON that libyaml cannot, without lines", function()
      -- libyaml refuses a surrogate pair escape; lua-cjson's reading is used then
      local text = GOOD_JSON:gsub('"Pull the app"', '"Pull \\ud83d\\ude00"')
      local d, err = file.parse(text, "x.json")
      assert.is_nil(err)
      assert.equal("Pull \240\159\152\128", d.registries[1].scope_maps[1].description)
      assert.is_nil(d.registries[1].line)
      assert_invalid("x.json", nil, "registries[2].name", "'bad' is not a registry name",
        file.parse((text:gsub('"12345registry"', '"bad"')), "x.json"))
    end)
  end)

  describe("an invalid file", function()
    local function head(sub)
      return "registries:\n  - subscription: " .. sub .. "\n    resource_group: rg-prod\n"
        .. "    name: prodregistry\n"
    end
    local HEAD = head(SUB)
    local TOKEN = HEAD .. "    tokens:\n      app-ci:\n        scope_map: app-pull\n"
    local POLICY = TOKEN .. "        passwords:\n"
    local MAP = HEAD .. "    scope_maps:\n      app-pull:\n"

    -- { what, text, line, field, fragment of the message }
    local CASES = {
      { "an unknown key", HEAD .. "    colour: red\n", 5, "registries[1].colour",
        "unknown key (known: subscription, resource_group, name, prune, scope_maps, tokens)" },
      { "a typo in a policy", POLICY .. "          lifetme: 30d\n", 9,
        "registries[1].tokens.app-ci.passwords.lifetme", "unknown key" },
      { "an unknown key at the top", "registry: []\n", 1, "registry",
        "unknown key (known: registries)" },
      { "prune as yes", HEAD .. "    prune: yes\n", 5, "registries[1].prune",
        "must be true or false, not text (YAML 1.1's yes" },
      { "a name as a list", HEAD:gsub("name: prodregistry", "name: [a]"), 4, "registries[1].name",
        "must be text, not a table" },
      { "scope maps as a list", HEAD .. "    scope_maps:\n      - app-pull\n", 5,
        "registries[1].scope_maps", "must be a map of name to scope map, not a list" },
      { "actions as text", MAP .. "        actions: repositories/app/content/read\n", 7,
        "registries[1].scope_maps.app-pull.actions", "must be a non-empty list" },
      { "an action as a number", MAP .. "        actions: [5]\n", 7,
        "registries[1].scope_maps.app-pull.actions[1]", "must be text, not a number" },
      { "passwords as a number", TOKEN .. "        passwords: 5\n", 8,
        "registries[1].tokens.app-ci.passwords", "must be a map of slots" },
      { "a registry as text", "registries:\n  - prodregistry\n", 2, "registries[1]",
        "must be a map (subscription, resource_group, name" },
      { "a bad registry name", HEAD:gsub("name: prodregistry", "name: prod-registry"), 4,
        "registries[1].name", "'prod-registry' is not a registry name (5 to 50 letters" },
      { "a bad resource group", HEAD:gsub("rg%-prod", "rg."), 3, "registries[1].resource_group",
        "'rg.' is not a resource group name" },
      { "a bad token name", HEAD .. "    tokens:\n      app_ci:\n        scope_map: app-pull\n", 6,
        "registries[1].tokens.app_ci", "'app_ci' is not a token name (5 to 50 letters, digits and '-')" },
      { "a bad scope map name", MAP:gsub("app%-pull:", "app:") .. "        actions: [repositories/a/content/read]\n",
        6, "registries[1].scope_maps.app", "'app' is not a scope map name" },
      { "a bad scope_map of a token", TOKEN:gsub("scope_map: app%-pull", "scope_map: a/b"), 7,
        "registries[1].tokens.app-ci.scope_map", "'a/b' is not a scope map name" },
      { "a system scope map listed", HEAD .. "    scope_maps:\n      _Repositories_Pull:\n"
        .. "        actions: [repositories/a/content/read]\n", 6,
        "registries[1].scope_maps._Repositories_Pull", "is a system scope map" },
      { "a subscription that is not a GUID", head("my-subscription"), 2,
        "registries[1].subscription", "'my-subscription' is not a subscription id (a GUID" },
      { "a missing subscription", "registries:\n  - name: prodregistry\n    resource_group: rg\n",
        2, "registries[1].subscription", "is required" },
      { "the same registry twice", HEAD .. "  - subscription: " .. SUB .. "\n    resource_group: RG-prod\n    name: PRODregistry\n", 5, "registries[2]",
        "the same registry as registries[1] (line 2)" },
      { "a duplicate key", HEAD .. "    name: otherregistry\n", 5, "registries[1].name",
        "duplicate key (first at line 4)" },
      { "a duplicate token", TOKEN .. "      app-ci:\n        scope_map: app-pull\n", 8,
        "registries[1].tokens.app-ci", "duplicate key (first at line 6)" },
      { "token names that differ in case", TOKEN .. "      APP-CI:\n        scope_map: app-pull\n",
        8, "registries[1].tokens.APP-CI", "the same name as 'app-ci' (ARM's names are not case-sensitive)" },
      { "a bad duration", POLICY .. "          lifetime: 90x\n", 9,
        "registries[1].tokens.app-ci.passwords.lifetime", "'90x' is not a duration" },
      { "a bare number as a duration", POLICY .. "          lifetime: 90\n", 9,
        "registries[1].tokens.app-ci.passwords.lifetime", "a bare number has no unit" },
      { "a duration in years", POLICY .. "          lifetime: P1Y\n", 9,
        "registries[1].tokens.app-ci.passwords.lifetime", "years and months have no fixed length" },
      { "a duration in months", POLICY .. "          retire_after: P1M\n", 9,
        "registries[1].tokens.app-ci.passwords.retire_after", "'P1M': years and months" },
      { "a lifetime of 0", POLICY .. "          lifetime: 0s\n", 9,
        "registries[1].tokens.app-ci.passwords.lifetime", "must be longer than 0s" },
      { "a duration past 100 years", POLICY .. "          lifetime: 36501d\n", 9,
        "registries[1].tokens.app-ci.passwords.lifetime", "must be at most 36500d" },
      { "rotate_before as long as lifetime", POLICY .. "          lifetime: 30d\n"
        .. "          rotate_before: 720h\n", 10, "registries[1].tokens.app-ci.passwords.rotate_before",
        "must be shorter than lifetime (30d), or every new password would be rotated at once" },
      { "3 slots", POLICY .. "          slots: 3\n", 9,
        "registries[1].tokens.app-ci.passwords.slots", "must be 1 or 2, not 3" },
      { "slots as false", POLICY .. "          slots: false\n", 9,
        "registries[1].tokens.app-ci.passwords.slots", "must be 1 or 2, not a boolean" },
      { "slots as text", POLICY .. "          slots: \"2\"\n", 9,
        "registries[1].tokens.app-ci.passwords.slots", "must be 1 or 2, not text" },
      { "a bad status", TOKEN .. "        status: Enabled\n", 8,
        "registries[1].tokens.app-ci.status", "must be enabled or disabled, not 'Enabled'" },
      { "empty actions", MAP .. "        actions: []\n", 7,
        "registries[1].scope_maps.app-pull.actions", "must be a non-empty list of scope map actions" },
      { "no actions", MAP .. "        description: x\n", 7,
        "registries[1].scope_maps.app-pull.actions", "is required" },
      { "a scope map with nothing", MAP, 6, "registries[1].scope_maps.app-pull.actions", "is required" },
      { "a bad action", MAP .. "        actions:\n          - repositories/app/content/read\n"
        .. "          - repositories/App/pull\n", 9,
        "registries[1].scope_maps.app-pull.actions[2]",
        "'repositories/App/pull' is not a scope map action" },
      { "a token without scope_map", HEAD .. "    tokens:\n      app-ci:\n        status: enabled\n",
        7, "registries[1].tokens.app-ci.scope_map", "is required" },
      { "a YAML syntax error", HEAD .. "    tokens: [a\n    prune: true\n", 6, nil,
        "YAML syntax: did not find expected ',' or ']'" },
      { "a tab for indentation", HEAD .. "\tprune: true\n", 5, nil, "YAML syntax:" },
      { "an empty file", "", nil, nil, "is empty" },
      { "only comments", "# nothing yet\n\n", nil, nil, "is empty" },
      { "a list", "- registries: []\n", 1, nil, "must be a map with the key registries, not a list" },
      { "text", "registries\n", 1, nil, "must be a map with the key registries, not text" },
      { "no registries", "registries: []\n", 1, "registries", "must be a non-empty list of registries" },
      { "registries: with nothing", "registries:\n", 1, "registries", "is required" },
      { "an anchor", HEAD .. "    scope_maps: &maps {}\n", 5, "registries[1].scope_maps",
        "YAML anchors (&maps) are not supported" },
      { "an anchor on a map", HEAD .. "    tokens: &t {}\n", 5, "registries[1].tokens", "YAML anchors" },
      { "an alias alone", "registries: *r\n", 1, "registries", "YAML aliases (*r) are not supported" },
      { "a tag", HEAD .. "    prune: !!bool true\n", 5, "registries[1].prune",
        "YAML tags (!!bool) are not supported" },
      { "two documents", HEAD .. "---\n" .. HEAD, 5, nil, "more than one YAML document" },
      { "a key that is a list", HEAD .. "    ? [a, b]\n    : 1\n", 5, "registries[1]",
        "a key must be text" },
      { "a control byte in a value", HEAD .. "    tokens:\n      \"app\\nci\":\n        scope_map: app-pull\n",
        6, "registries[1].tokens.app\nci", "'app\\nci' is not a token name" },
      { "nesting too deep", "registries: " .. string.rep("[", 40) .. string.rep("]", 40) .. "\n",
        1, "registries" .. string.rep("[1]", 31), "nested too deeply" },
    }

    for _, c in ipairs(CASES) do
      it("names the line and field: " .. c[1], function()
        local path = write("bad.yaml", c[2])
        local d, err = file.load(path)
        assert_invalid(path, c[3], c[4], c[5], d, err)
      end)
    end

    it("names the line of a JSON syntax error", function()
      local text = '{"registries": [\n  {"subscription": "' .. SUB .. '",\n   "name": "x"}\n}'
      assert_invalid("f.json", 4, nil,
        "JSON syntax: expected comma or array end but found '}' (column 1)", file.parse(text, "f.json"))
    end)

    it("holds JSON to JSON: no trailing comma, no comment, no bare word", function()
      local base = '{"registries": [{"subscription": "' .. SUB .. '", "resource_group": "rg",'
        .. ' "name": "prodregistry"%s}]}'
      assert.truthy(file.parse(base:format(""), "f.json"))
      assert_invalid("f.json", 1, nil, "JSON syntax: expected object key string but found '}'",
        file.parse(base:format(","), "f.json"))
      assert_invalid("f.json", 1, nil, "JSON syntax: expected value but found invalid token",
        file.parse(base:format(', "prune": yes'), "f.json"))
      assert_invalid("f.json", 2, nil, "JSON syntax", file.parse(base:format("\n# note\n"), "f.json"))
      assert_invalid("f.json", 1, nil, "JSON syntax", file.parse(base:format(', "prune": NaN'), "f.json"))
    end)

    it("refuses a duplicate key in JSON, with its line", function()
      local text = '{"registries": [{"subscription": "' .. SUB .. '",\n "resource_group": "rg",\n'
        .. ' "name": "prodregistry",\n "name": "otherregistry"}]}'
      assert_invalid("f.json", 4, "registries[1].name", "duplicate key (first at line 3)",
        file.parse(text, "f.json"))
    end)

    it("reports JSON errors of the schema with lines", function()
      local text = GOOD_JSON:gsub('"slots": 2', '"slots": 3')
      assert_invalid("f.json", 15, "registries[1].tokens.app-ci.passwords.slots",
        "must be 1 or 2, not 3", file.parse(text, "f.json"))
      assert_invalid("f.json", 1, nil, "must be a map", file.parse("[]", "f.json"))
      assert_invalid("f.json", nil, nil, "is empty", file.parse("  \n", "f.json"))
    end)

    it("reports a script's table without a line", function()
      local d, err = file.check({ registries = { { subscription = SUB, resource_group = "rg",
        name = "prodregistry", tokens = { ["app-ci"] = { scope_map = "app-pull",
          passwords = { lifetime = 90 } } } } } }, "script")
      assert_invalid("script", nil, "registries[1].tokens.app-ci.passwords.lifetime",
        "a bare number has no unit", d, err)
      assert.equal("script: registries[1].tokens.app-ci.passwords.lifetime: a bare number has no "
        .. "unit: write a duration such as 30d, 12h or P30D", err.message)
      assert_invalid("(desired state)", nil, nil, "must be a map with the key registries, not a table",
        file.check { registries = {}, [1] = "x" })
      assert_invalid("(desired state)", nil, "registries[1].tokens.app-ci.colour", "unknown key",
        file.check { registries = { { subscription = SUB, resource_group = "rg", name = "prodregistry",
          tokens = { ["app-ci"] = { scope_map = "app-pull", colour = "red" } } } } })
      assert_invalid("(desired state)", nil, "registries", "must be a non-empty list",
        file.check { registries = { [1] = {}, [3] = {} } })
      assert_invalid("(desired state)", nil, "registries[1].tokens", "must be a map of name to token",
        file.check { registries = { { subscription = SUB, resource_group = "rg",
          name = "prodregistry", tokens = { { scope_map = "app-pull" } } } } })
    end)

    it("says why a file cannot be read", function()
      local path = dir .. "/no-such-file.yaml"
      assert_invalid(path, nil, nil, "cannot be read: No such file or directory", file.load(path))
      assert_invalid(dir, nil, nil, "cannot be read:", file.load(dir))
    end)
  end)

  describe("misuse", function()
    local function raises(fragment, f, ...)
      local ok, err = pcall(f, ...)
      assert.is_false(ok)
      assert.matches(fragment, err, 1, true)
    end

    it("raises in the module's shape", function()
      raises("bad argument #1 to 'acr.desired.file.load' (string expected, got nil)", file.load)
      raises("bad argument #1 to 'acr.desired.file.parse' (string expected, got number)", file.parse, 1)
      raises("bad argument #2 to 'acr.desired.file.parse' (string expected, got number)",
        file.parse, "", 5)
      raises("bad argument #3 to 'acr.desired.file.parse' (format must be 'yaml' or 'json', got 'toml')",
        file.parse, "", "x", "toml")
      raises("bad argument #1 to 'acr.desired.file.check' (table expected, got string)",
        file.check, "registries: []")
      raises("bad argument #2 to 'acr.desired.file.check' (string expected, got boolean)",
        file.check, {}, true)
    end)

    it("points at the caller", function()
      local ok, err = pcall(function() file.load(42) end)
      assert.is_false(ok)
      assert.matches("46%-desired_file_spec%.lua:%d+: bad argument #1", err)
    end)
  end)

  insulate("without lua-yaml", function()
    package.loaded.yaml = nil
    package.loaded["acr.desired.read"] = nil
    package.loaded["acr.desired.file"] = nil
    package.preload.yaml = function() error("module 'yaml' not found") end
    local bare = require "acr.desired.file"
    package.preload.yaml = nil

    it("says YAML needs it, and reads JSON without lines", function()
      assert_invalid("x.yaml", nil, nil, "reading YAML needs Debian's lua-yaml",
        bare.parse(GOOD_YAML, "x.yaml"))
      local d = assert(bare.parse(GOOD_JSON, "x.json"))
      assert.same(expected("x.json"), d)
    end)
  end)
end)
