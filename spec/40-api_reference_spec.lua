-- The API reference is checked: every function exported to Lua has a `syntax:` entry.
local acr = require "acr"
local helpers = require "helpers"

local function syntax_lines()
  local text = assert(helpers.read_file(helpers.root .. "/docs/API.md"))
  local lines = {}
  for line in text:gmatch("[^\n]+") do
    if line:match("^syntax:") then lines[#lines + 1] = line end
  end
  return lines
end

local function documented(lines, name)
  for _, l in ipairs(lines) do
    for _, sep in ipairs{ ":", "." } do
      for _, open in ipairs{ "(", "{" } do
        if l:find(sep .. name .. open, 1, true) then return true end
      end
    end
  end
  return false
end

local function functions_of(t, out, prefix)
  for k, v in pairs(t) do
    if type(v) == "function" and not k:match("^__") then out[#out + 1] = prefix .. k end
  end
end

describe("API reference #docs", function()
  it("has a syntax line for every exported function", function()
    local reg = debug.getregistry()
    local names = {}
    functions_of(acr, names, "")
    functions_of(acr.credential, names, "")
    functions_of(reg["acr.Client"].__index, names, "")
    functions_of(reg["acr.Operation"].__index, names, "")
    functions_of(reg["acr.Pager"].__index, names, "")
    functions_of(reg["acr.ScopeMap"].methods, names, "")
    functions_of(reg["acr.Token"].methods, names, "")
    assert.is_true(#names > 50)
    local lines = syntax_lines()
    local missing = {}
    for _, n in ipairs(names) do
      if not documented(lines, n) then missing[#missing + 1] = n end
    end
    table.sort(missing)
    assert.are.same({}, missing)
  end)

  it("would notice an undocumented function", function()
    assert.is_false(documented(syntax_lines(), "no_such_function_here"))
  end)
end)
