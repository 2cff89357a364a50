-- docs/CLI.md, "Against az: every command and option" (issue 12), checked against bin/acr
-- so that the table cannot drift from what acr does: every option marked same or
-- different is in the command's --help (with the short form the table gives it), every
-- option marked missing is refused as an unknown option (exit 2), every command `acr --help`
-- lists has rows (az's, and those only acr has, whose rows are all "different", not in
-- az), and every option a command's --help lists has a row.
--
-- Hermetic: acr runs under `env -i` with a HOME of its own (an empty ~/.azure), a PATH whose
-- first directory holds an `az` that fails, no credentials, and every endpoint on a closed
-- loopback port. --help needs no server, and an unknown option is refused before anything
-- is read or sent.
local helpers = require "helpers"

local q = helpers.quote

local SECTION = "## Against az: every command and option"

-- az's commands; acr --help lists them, and acr's own (ACR_ONLY, read from it in setup).
local AZ_COMMANDS = {
  "scope-map create", "scope-map update", "scope-map delete", "scope-map show", "scope-map list",
  "token create", "token update", "token delete", "token show", "token list",
  "token credential generate", "token credential delete",
}
local WRITES = {
  "scope-map create", "scope-map update", "scope-map delete", "token create", "token update",
  "token delete", "token credential generate", "token credential delete",
}
local COMMANDS, ACR_ONLY = {}, {}   -- every command acr --help lists; those az lacks
local GROUPS = { ["every command"] = COMMANDS, ["every command that writes"] = WRITES }
local MARKS = { same = true, different = true, missing = true }

-- Passed through when set: the loopback guard of the test run and the sanitizers' options.
local PASS = { "ACR_LOOPBACK_GUARD", "ASAN_OPTIONS", "UBSAN_OPTIONS" }

-- The cells of a table line, split at each '|' that is not escaped, trimmed.
local function cells(line)
  local out, cur, i = {}, {}, 2
  while i <= #line do
    local c = line:sub(i, i)
    if c == "\\" and line:sub(i + 1, i + 1) == "|" then
      cur[#cur + 1] = "|"; i = i + 2
    elseif c == "|" then
      out[#out + 1] = (table.concat(cur):gsub("^%s+", ""):gsub("%s+$", "")); cur = {}; i = i + 1
    else
      cur[#cur + 1] = c; i = i + 1
    end
  end
  return out
end

-- syntax: rows, err = parse(doc)
--   rows[i] = { line, command (as written), commands = {path…}, long, short?, mark, note }
local function parse(doc)
  local start = doc:find("\n" .. SECTION .. "\n", 1, true)
  if not start then return nil, "no section '" .. SECTION .. "'" end
  local body = doc:sub(start + #SECTION + 2)
  body = body:sub(1, (body:find("\n## ", 1, true) or #body + 1) - 1)
  local rows, n = {}, 0
  for line in body:gmatch("[^\n]+") do
    n = n + 1
    if line:sub(1, 1) == "|" and not line:find("^|%-") and not line:find("^| command |") then
      local c = cells(line)
      local row = { line = line }
      if #c ~= 4 then return nil, "not 4 cells: " .. line end
      row.command = c[1]:match("^`([^`]+)`$") or c[1]
      row.commands = GROUPS[row.command]
      if not row.commands then
        for _, p in ipairs(COMMANDS) do
          if p == row.command then row.commands = { p } end
        end
      end
      if not row.commands then return nil, "unknown command: " .. line end
      row.long, row.short = c[2]:match("^`%-%-([%w][%w-]*)`, `%-(%a)`$")
      if not row.long then row.long = c[2]:match("^`%-%-([%w][%w-]*)`$") end
      if not row.long then return nil, "option not `--long` or `--long`, `-s`: " .. line end
      row.mark = c[3]:match("^%*%*(%a+)%*%*$")
      if not MARKS[row.mark] then return nil, "mark not **same**, **different** or **missing**: " .. line end
      row.note = c[4]
      if row.mark ~= "same" and row.note == "" then return nil, "no note: " .. line end
      rows[#rows + 1] = row
    end
  end
  return rows
end

describe("docs/CLI.md, acr against az #cli", function()
  local home, rows, parse_err
  local help_of = {}

  -- syntax: r = acr(args)  -- r.code, r.out, r.err
  local function acr(args)
    local env = {
      HOME = home, AZURE_CONFIG_DIR = home .. "/.azure", PATH = home .. "/bin:/usr/bin:/bin",
      ACR_ENDPOINT = "http://127.0.0.1:9", AZURE_AUTHORITY_HOST = "http://127.0.0.1:9",
      ACR_IMDS_ENDPOINT = "http://127.0.0.1:9",
      LUA_CPATH = (os.getenv("ACR_CPATH") or (helpers.root .. "/build/lua5.4/?.so")) .. ";;",
    }
    for _, k in ipairs(PASS) do env[k] = os.getenv(k) end
    local parts = { "env -i" }
    for k, v in pairs(env) do parts[#parts + 1] = q(k .. "=" .. v) end
    parts[#parts + 1] = q(os.getenv("ACR_LUA") or "lua5.4")
    parts[#parts + 1] = q(helpers.root .. "/bin/acr")
    for _, a in ipairs(args) do parts[#parts + 1] = q(a) end
    local errfile = home .. "/stderr"
    local _, out, code = helpers.sh(table.concat(parts, " ") .. " 2>" .. q(errfile) .. " </dev/null")
    return { code = code, out = out, err = helpers.read_file(errfile) or "" }
  end

  -- The commands acr --help lists (its lines "  PATH  summary"), into COMMANDS, and
  -- those that are not az's into ACR_ONLY.
  local function read_commands()
    local r = acr { "--help" }
    assert.are.equal(0, r.code, r.err)
    local az = {}
    for _, p in ipairs(AZ_COMMANDS) do az[p] = true end
    for line in r.out:gmatch("[^\n]+") do
      local path = line:match("^  (%l[%l%- ]-)  +%S")
      if path then
        COMMANDS[#COMMANDS + 1] = path
        if not az[path] then ACR_ONLY[#ACR_ONLY + 1] = path end
      end
    end
  end

  setup(function()
    home = helpers.tmpdir("acr-cli-aztable")
    assert(helpers.sh("mkdir -p " .. q(home .. "/.azure") .. " " .. q(home .. "/bin")))
    helpers.write_file(home .. "/bin/az", "#!/bin/sh\necho 'az: not here' >&2\nexit 1\n")
    assert(helpers.sh("chmod +x " .. q(home .. "/bin/az")))
    read_commands()
    rows, parse_err = parse(assert(helpers.read_file(helpers.root .. "/docs/CLI.md")))
  end)
  teardown(function() if home then helpers.rmdir(home) end end)

  local function words(path)
    local w = {}
    for x in path:gmatch("%S+") do w[#w + 1] = x end
    return w
  end

  -- The command's --help (exit 0, nothing on stderr), read once.
  local function help(path)
    if not help_of[path] then
      local args = words(path)
      args[#args + 1] = "--help"
      local r = acr(args)
      assert.are.equal(0, r.code, path .. ": " .. r.err)
      assert.are.equal("", r.err, path)
      assert.matches("^usage: acr " .. path:gsub("%-", "%%-") .. " ", r.out)
      help_of[path] = r.out
    end
    return help_of[path]
  end

  -- The options a --help lists, from its option lines (an indented line starting with a
  -- dash; its first column, up to two spaces): long name -> its short letter, or false.
  local function listed(text)
    local opts = {}
    for line in text:gmatch("[^\n]+") do
      local spec = line:match("^%s+(%-.*)$")
      if spec then
        spec = spec:match("^(.-)%s%s") or spec
        for long in spec:gmatch("%-%-([%w][%w-]*)") do opts[long] = opts[long] or false end
        for short, long in spec:gmatch("%-(%a), %-%-([%w][%w-]*)") do opts[long] = short end
      end
    end
    return opts
  end

  -- The rows that hold for a command: its own and its groups'.
  local function rows_for(path)
    local out = {}
    for _, row in ipairs(rows) do
      for _, p in ipairs(row.commands) do
        if p == path then out[row.long] = row end
      end
    end
    return out
  end

  it("the table is there, and each row is a known command, an option, a mark and a note", function()
    assert.is_nil(parse_err, parse_err)
    assert.is_true(#rows > 0)
    local seen = {}
    for _, row in ipairs(rows) do
      for _, p in ipairs(row.commands) do
        local key = p .. " --" .. row.long
        assert.is_nil(seen[key], "two rows for " .. key .. ": " .. row.line .. " / " .. tostring(seen[key]))
        seen[key] = row.line
      end
    end
  end)

  it("acr --help lists az's twelve commands, and acr's own", function()
    assert.are.equal(#AZ_COMMANDS + #ACR_ONLY, #COMMANDS)
    local listed = {}
    for _, p in ipairs(COMMANDS) do listed[p] = true end
    for _, p in ipairs(AZ_COMMANDS) do assert.is_true(listed[p], "acr --help lists no " .. p) end
    assert.is_true(#ACR_ONLY > 0)   -- audit, at least
  end)

  it("a command only acr has: each of its rows is different, not in az", function()
    assert.is_nil(parse_err, parse_err)
    local own = {}
    for _, p in ipairs(ACR_ONLY) do own[p] = true end
    local checked = 0
    for _, row in ipairs(rows) do
      if own[row.command] then
        assert.are.equal("different", row.mark, row.line)
        assert.is_truthy(row.note:find("^not in az"), row.line)
        checked = checked + 1
      end
    end
    assert.is_true(checked >= #ACR_ONLY)
  end)

  it("every command has rows of its own", function()
    assert.is_nil(parse_err, parse_err)
    for _, path in ipairs(COMMANDS) do
      local n = 0
      for _, row in ipairs(rows) do
        if row.command == path then n = n + 1 end
      end
      assert.is_true(n > 0, "no row for acr " .. path)
    end
  end)

  it("an option marked same or different is in the command's --help, with its short form", function()
    assert.is_nil(parse_err, parse_err)
    local checked = 0
    for _, row in ipairs(rows) do
      if row.mark ~= "missing" then
        for _, path in ipairs(row.commands) do
          local opts = listed(help(path))
          assert.is_not_nil(opts[row.long], ("acr %s --help lists no --%s (%s)"):format(path,
            row.long, row.line))
          assert.are.equal(row.short or false, opts[row.long], ("acr %s --help: the short form of "
            .. "--%s (%s)"):format(path, row.long, row.line))
          checked = checked + 1
        end
      end
    end
    assert.is_true(checked > 0)
  end)

  it("an option marked missing is refused as an unknown option, exit 2, nothing printed", function()
    assert.is_nil(parse_err, parse_err)
    local checked = 0
    for _, row in ipairs(rows) do
      if row.mark == "missing" then
        for _, path in ipairs(row.commands) do
          assert.is_nil(listed(help(path))[row.long], ("acr %s --help lists --%s, marked missing")
            :format(path, row.long))
          local args = words(path)
          args[#args + 1] = "--" .. row.long
          local r = acr(args)
          assert.are.equal(2, r.code, ("acr %s --%s: %s"):format(path, row.long, r.err))
          local first = r.err:match("^[^\n]*") or ""
          assert.are.equal(("acr %s: error: unknown option --%s"):format(path, row.long), first)
          assert.are.equal("", r.out)
          checked = checked + 1
        end
      end
    end
    assert.is_true(checked > 0)
  end)

  it("every option a command's --help lists has a row for that command", function()
    assert.is_nil(parse_err, parse_err)
    for _, path in ipairs(COMMANDS) do
      local have = rows_for(path)
      for long, short in pairs(listed(help(path))) do
        local row = have[long]
        assert.is_not_nil(row, ("acr %s --help lists --%s: docs/CLI.md has no row for it")
          :format(path, long))
        assert.are_not.equal("missing", row.mark, row.line)
        assert.are.equal(short, row.short or false, ("acr %s: the short form of --%s"):format(path,
          long))
      end
    end
  end)
end)
