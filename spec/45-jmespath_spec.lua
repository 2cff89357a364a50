-- acr.jmespath against the JMESPath compliance suite (spec/fixtures/jmespath/, see its
-- README.md), then the rules for bad input: bounded nesting, misuse raising, errors
-- as values.
local helpers = require "helpers"
local jmespath = require "acr.jmespath"
local cjson = require "cjson"

local FIXTURES = helpers.root .. "/spec/fixtures/jmespath/"
local FILES = { "basic", "boolean", "current", "escape", "filters", "functions", "identifiers",
  "indices", "literal", "multiselect", "pipe", "slice", "syntax", "unicode", "wildcard",
  "benchmarks" }

---------------------------------------------------------------------------
-- A JSON reader of the spec's own (not the module's, so a bug in one cannot hide
-- in the other): arrays and objects carry dkjson's {__jsontype=} marks, null is
-- cjson.null.
---------------------------------------------------------------------------

local ARRAY, OBJECT = { __jsontype = "array" }, { __jsontype = "object" }

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + math.floor(cp / 64), 0x80 + cp % 64) end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 4096), 0x80 + math.floor(cp / 64) % 64,
                       0x80 + cp % 64)
  end
  return string.char(0xF0 + math.floor(cp / 262144), 0x80 + math.floor(cp / 4096) % 64,
                     0x80 + math.floor(cp / 64) % 64, 0x80 + cp % 64)
end

local function json_reader(text)
  local pos = 1
  local function ws() pos = text:find("[^ \t\r\n]", pos) or #text + 1 end
  local function ch() return text:sub(pos, pos) end
  local value
  local function str()
    local out = {}
    pos = pos + 1
    while true do
      local c = ch()
      if c == '"' then pos = pos + 1; return table.concat(out) end
      if c == "\\" then
        local e = text:sub(pos + 1, pos + 1)
        if e == "u" then
          local cp = tonumber(text:sub(pos + 2, pos + 5), 16)
          pos = pos + 6
          if cp >= 0xD800 and cp < 0xDC00 and text:sub(pos, pos + 1) == "\\u" then
            local lo = tonumber(text:sub(pos + 2, pos + 5), 16)
            cp = 0x10000 + (cp - 0xD800) * 1024 + (lo - 0xDC00)
            pos = pos + 6
          end
          out[#out + 1] = utf8_char(cp)
        else
          local map = { n = "\n", t = "\t", r = "\r", b = "\b", f = "\f" }
          out[#out + 1] = map[e] or e
          pos = pos + 2
        end
      else
        assert(c ~= "", "unterminated string in a fixture")
        out[#out + 1] = c
        pos = pos + 1
      end
    end
  end
  function value()
    ws()
    local c = ch()
    if c == "{" then
      local o = setmetatable({}, OBJECT)
      pos = pos + 1
      ws()
      if ch() == "}" then pos = pos + 1; return o end
      while true do
        ws()
        local k = str()
        ws()
        assert(ch() == ":")
        pos = pos + 1
        o[k] = value()
        ws()
        c = ch()
        pos = pos + 1
        if c == "}" then return o end
        assert(c == ",", "bad object in a fixture")
      end
    elseif c == "[" then
      local a = setmetatable({}, ARRAY)
      pos = pos + 1
      ws()
      if ch() == "]" then pos = pos + 1; return a end
      while true do
        a[#a + 1] = value()
        ws()
        c = ch()
        pos = pos + 1
        if c == "]" then return a end
        assert(c == ",", "bad array in a fixture")
      end
    elseif c == '"' then
      return str()
    end
    for word, v in pairs { ["true"] = true, ["false"] = false, null = cjson.null } do
      if text:sub(pos, pos + #word - 1) == word then
        pos = pos + #word
        return v
      end
    end
    local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    assert(num and num ~= "", "bad value in a fixture at " .. pos)
    pos = pos + #num
    return assert(tonumber(num))
  end
  return value()
end

---------------------------------------------------------------------------
-- JSON equality between a result and the suite's expectation
---------------------------------------------------------------------------

local function jsontype(v) return type(v) == "table" and rawget(getmetatable(v) or {}, "__jsontype") end

-- nil when equal, else where and how they differ
local function differ(got, want, path)
  path = path or "result"
  if want == cjson.null then
    if got ~= cjson.null then return path .. ": null expected, got " .. tostring(got) end
    return nil
  end
  local wt = type(want)
  if wt == "number" then
    if type(got) ~= "number" then return path .. ": number expected, got " .. type(got) end
    if math.abs(got - want) > 1e-9 * math.max(1, math.abs(want)) then
      return path .. ": " .. want .. " expected, got " .. got
    end
    return nil
  elseif wt ~= "table" then
    if got ~= want then
      return path .. ": " .. tostring(want) .. " expected, got " .. tostring(got)
    end
    return nil
  end
  local kind = jsontype(want)
  if jmespath.type(got) ~= kind then
    return path .. ": " .. kind .. " expected, got " .. jmespath.type(got)
  end
  if next(got) == nil and jsontype(got) ~= kind then
    return path .. ": an empty " .. kind .. " expected, got an unmarked empty table"
  end
  if kind == "array" then
    if #got ~= #want then return path .. ": " .. #want .. " elements expected, got " .. #got end
    for i = 1, #want do
      local d = differ(got[i], want[i], path .. "[" .. i .. "]")
      if d then return d end
    end
    return nil
  end
  for k, v in pairs(want) do
    if got[k] == nil then return path .. ": key " .. k .. " missing" end
    local d = differ(got[k], v, path .. "." .. k)
    if d then return d end
  end
  for k in pairs(got) do
    if type(k) == "string" and want[k] == nil then return path .. ": extra key " .. k end
  end
  return nil
end

---------------------------------------------------------------------------
-- the suite
---------------------------------------------------------------------------

describe("acr.jmespath compliance #jmespath", function()
  local total = 0
  for _, name in ipairs(FILES) do
    local suites = json_reader(assert(helpers.read_file(FIXTURES .. name .. ".json")))
    describe(name .. ".json", function()
      for s, suite in ipairs(suites) do
        for c, case in ipairs(suite.cases) do
          total = total + 1
          local label = ("%s %d.%d: %s"):format(name, s, c, case.expression)
          if case.error then
            it("fails with " .. case.error .. " for " .. label, function()
              local v, err = jmespath.search(case.expression, suite.given)
              assert.is_nil(v, "a result where a " .. case.error .. " error was expected")
              assert.is_true(jmespath.is_error(err))
              assert.are.equal(case.error, err.kind, tostring(err))
            end)
          elseif case.result ~= nil then
            it("gives the result for " .. label, function()
              local v, err = jmespath.search(case.expression, suite.given)
              assert.is_nil(err, err and tostring(err))
              local d = differ(v, case.result)
              assert.is_nil(d, d)
            end)
          else
            it("runs " .. label, function()
              local v, err = jmespath.search(case.expression, suite.given)
              assert.is_nil(err, err and tostring(err))
              assert.is_not_nil(v)
            end)
          end
        end
      end
    end)
  end
  it("has every case of the suite", function()
    assert.are.equal(908, total)
  end)
end)

describe("the compliance comparison", function()
  it("tells results apart", function()
    local arr, obj = json_reader("[]"), json_reader("{}")
    assert.is_not_nil(differ(jmespath.search("`{}`", {}), arr))
    assert.is_not_nil(differ(jmespath.search("`[]`", {}), obj))
    assert.is_not_nil(differ({}, arr))   -- unmarked: cannot be told, so not accepted
    assert.is_not_nil(differ(jmespath.search("`[1, 2]`", {}), json_reader("[1, 3]")))
    assert.is_not_nil(differ(jmespath.search("`{\"a\": 1}`", {}), json_reader('{"a": 1, "b": 2}')))
    assert.is_not_nil(differ(jmespath.search("`{\"a\": 1, \"b\": 2}`", {}), json_reader('{"a": 1}')))
    assert.is_not_nil(differ(jmespath.search("`null`", {}), json_reader('0')))
    assert.is_nil(differ(jmespath.search("`[1.0, {\"a\": null}]`", {}), json_reader('[1, {"a": null}]')))
  end)
end)

---------------------------------------------------------------------------
-- the Lua face and bad input
---------------------------------------------------------------------------

describe("acr.jmespath #jmespath", function()
  it("raises on an expression that is not a string", function()
    assert.has_error(function() jmespath.search(nil, {}) end,
      "bad argument #1 to 'search' (string expected, got nil)")
    assert.has_error(function() jmespath.search(42, {}) end,
      "bad argument #1 to 'search' (string expected, got number)")
    assert.has_error(function() jmespath.compile({}) end,
      "bad argument #1 to 'compile' (string expected, got table)")
    local expr = assert(jmespath.compile("a"))
    assert.has_error(function() expr.search({ a = 1 }) end,
      "bad argument #1 to 'search' (jmespath expression expected, got table)")
  end)

  it("returns errors as values with their kind, position and expression", function()
    local v, err = jmespath.search("foo.", {})
    assert.is_nil(v)
    assert.are.equal("syntax", err.kind)
    assert.are.equal(5, err.position)
    assert.are.equal("foo.", err.expression)
    assert.matches("^syntax error: .*in 'foo%.'$", tostring(err))
    -- found when compiling, before any data
    local c, e2 = jmespath.compile("nope(@)")
    assert.is_nil(c)
    assert.are.equal("unknown-function", e2.kind)
    c, e2 = jmespath.compile("length(a, b)")
    assert.is_nil(c)
    assert.are.equal("invalid-arity", e2.kind)
    -- found when searching
    c = assert(jmespath.compile("length(a)"))
    v, err = c:search({ a = true })
    assert.is_nil(v)
    assert.are.equal("invalid-type", err.kind)
    assert.are.equal(3, c:search({ a = "abc" }))
  end)

  it("bounds the nesting of an expression", function()
    local limit = jmespath.MAX_DEPTH
    local shapes = {
      string.rep("(", 100000) .. "a" .. string.rep(")", 100000),
      string.rep("!", 100000) .. "a",
      "a" .. string.rep(".a", 100000),
      string.rep("[", 100000) .. "a" .. string.rep("]", 100000),
      string.rep("{a:", 100000) .. "a" .. string.rep("}", 100000),
      string.rep("length(", 100000) .. "a" .. string.rep(")", 100000),
      "a" .. string.rep("[0]", 100000),
      "a" .. string.rep(" || a", 100000),
      string.rep("a | ", 100000) .. "a",
    }
    for _, expr in ipairs(shapes) do
      local v, err = jmespath.search(expr, { a = 1 })
      assert.is_nil(v, expr:sub(1, 20))
      assert.are.equal("syntax", err.kind, expr:sub(1, 20))
      assert.matches("nested more than " .. limit, err.message)
    end
    -- well below the bound, the same shapes work
    assert.are.equal(1, jmespath.search(string.rep("(", 50) .. "a" .. string.rep(")", 50), { a = 1 }))
    assert.are.equal(false, jmespath.search(string.rep("!", 51) .. "a", { a = 1 }))
    local chain = { a = {} }
    chain.a.a = chain.a
    assert.are.equal(chain.a, jmespath.search("a" .. string.rep(".a", 100), chain))
  end)

  it("bounds the nesting of the data it follows (a cycle is an error, not a hang)", function()
    local cyc = {}
    cyc.self = cyc
    local v, err = jmespath.search("to_string(@)", cyc)
    assert.is_nil(v)
    assert.are.equal("invalid-value", err.kind)
    v, err = jmespath.search("@ == @.self.self", cyc)
    -- the same table is equal to itself without looking inside
    assert.is_nil(err)
    assert.is_true(v)
    local other = {}
    other.self = other
    v, err = jmespath.search("a == b", { a = cyc, b = other })
    assert.is_nil(v)
    assert.are.equal("invalid-value", err.kind)
  end)

  it("never raises on malformed expressions", function()
    local bits = { "a", "`1`", "'s'", "\"q\"", "[", "]", "{", "}", "(", ")", ".", "*", "?",
      "[?", "[]", "|", "||", "&", "&&", "!", "==", "<", ":", ",", "@", "0", "-1", "`", "'",
      "\"", "sort_by(", "\\", "=", "é" }
    local seed = 12345
    local function rnd(n)
      seed = (seed * 1103515245 + 12345) % 2147483648
      return seed % n + 1
    end
    for _ = 1, 3000 do
      local parts = {}
      for i = 1, rnd(8) do parts[i] = bits[rnd(#bits)] end
      local expr = table.concat(parts)
      local ok, v, err = pcall(jmespath.search, expr, { a = { 1, 2 } })
      assert.is_true(ok, expr .. ": " .. tostring(v))
      if v == nil then assert.is_true(jmespath.is_error(err), expr) end
    end
  end)

  it("gives null as jmespath.null, never nil", function()
    local v, err = jmespath.search("missing", { a = 1 })
    assert.is_nil(err)
    assert.are.equal(jmespath.null, v)
    assert.are.equal(cjson.null, jmespath.search("[0]", {}))
  end)

  it("reads lua-cjson's data: an empty table counts as an array and as an object", function()
    local data = cjson.decode('{"tokens": [{"name": "b", "status": "enabled", "actions": []},'
      .. '{"name": "a", "status": "disabled", "props": {}}], "none": null}')
    assert.are.same({ "b" }, jmespath.search("tokens[?status == 'enabled'].name", data))
    assert.are.equal(0, jmespath.search("length(tokens[0].actions)", data))
    assert.are.equal("array", jmespath.search("type(tokens[0].actions)", data))
    assert.are.same({}, jmespath.search("keys(tokens[1].props)", data))
    assert.is_true(jmespath.search("tokens[0].actions == `[]` && tokens[1].props == `{}`", data))
    assert.are.same({ "a", "b" }, jmespath.search("sort_by(tokens, &name)[].name", data))
    assert.are.equal(cjson.null, jmespath.search("none", data))
    assert.are.equal("null", jmespath.search("type(none)", data))
  end)

  it("marks the arrays and objects it makes, and keeps a multi-select hash's key order", function()
    local v = jmespath.search("{zed: a, alpha: b, mid: `[]`}", { a = {}, b = 1 })
    assert.are.equal("object", jmespath.type(v))
    assert.are.same({ "zed", "alpha", "mid" }, jmespath.keys(v))
    assert.are.equal('{"zed":[],"alpha":1,"mid":[]}', jmespath.encode(v))
    assert.are.equal("[]", jmespath.encode(jmespath.search("a[?b]", { a = { 1 } })))
    assert.are.equal("{}", jmespath.encode(jmespath.search("merge(`{}`)", {})))
    assert.are.equal(1, select("#", jmespath.encode({ 1 })))
    local cyc = {}
    cyc[1] = cyc
    local s, err = jmespath.encode(cyc)
    assert.is_nil(s)
    assert.are.equal("invalid-value", err.kind)
    assert.are.same({ "b", "a", "c" },
      jmespath.keys(jmespath.search("merge(@, `{\"c\": 3, \"a\": 0}`)", jmespath.decode('{"b":1,"a":2}'))))
  end)

  it("counts and reverses strings by code point", function()
    assert.are.equal(5, jmespath.search("length('héllo')", {}))
    assert.are.equal(2, jmespath.search("length('𝄞✓')", {}))
    assert.are.equal("✓𝄞a", jmespath.search("reverse('a𝄞✓')", {}))
    assert.are.same({ "a", "z", "é", "✓" }, jmespath.search("sort(@)", { "✓", "é", "z", "a" }))
  end)

  it("searches a compiled expression many times", function()
    local expr = assert(jmespath.compile("items[?n > `1`].n | sum(@)"))
    for i = 1, 20 do
      local items = {}
      for k = 1, i do items[k] = { n = k } end
      assert.are.equal(i * (i + 1) / 2 - 1, expr:search({ items = items }))
    end
    assert.are.equal(jmespath.compile("a.b"), jmespath.compile("a.b"))   -- cached
  end)

  it("accepts the deprecated unquoted literal as jmespath.py does", function()
    assert.are.equal("foo", jmespath.search("`foo`", {}))
    assert.are.same({ 1 }, jmespath.search("[?name == `abc`].id", { { name = "abc", id = 1 } }))
  end)

  it("decodes JSON text into marked, ordered values", function()
    local v = assert(jmespath.decode('{"b": [], "a": {}, "c": [1, "\\u00e9\\ud834\\udd1e"]}'))
    assert.are.same({ "b", "a", "c" }, jmespath.keys(v))
    assert.are.equal('{"b":[],"a":{},"c":[1,"é𝄞"]}', jmespath.encode(v))
    local bad, err = jmespath.decode("[1,]")
    assert.is_nil(bad)
    assert.are.equal("invalid-value", err.kind)
    assert.is_nil((jmespath.decode("01")))
    assert.is_nil((jmespath.decode("1.")))
    assert.are.equal(cjson.null, jmespath.decode(" null "))
    -- a whole number past 2^53 adds as a float, never wrapping around
    assert.is_true(jmespath.search("sum(@)", jmespath.decode("[9223372036854775807, 1]")) > 0)
  end)
end)

describe("acr.json's key order #unit", function()
  local json = require "acr.json"
  it("is byte order, which is code point order for UTF-8, whatever the locale", function()
    assert.is_true(json.bytes_lt("B", "a"))
    assert.is_true(json.bytes_lt("z", "\195\169"))      -- "z" before "é"
    assert.is_true(json.bytes_lt("ab", "abc"))
    assert.is_false(json.bytes_lt("abc", "abc"))
    assert.is_false(json.bytes_lt("b", "a"))
    assert.are.equal('{"B":1,"a":2,"\195\169":3}', json.encode({ ["\195\169"] = 3, a = 2, B = 1 }, { sort = true }))
  end)
end)
