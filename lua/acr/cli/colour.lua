-- acr.cli.colour — -o jsonc and -o yamlc: the text of -o json and -o yaml, coloured
-- when stdout is a terminal (and only then).

local prompt = require "acr.cli.prompt"

local _M = {}

local KEY, STR, LIT, RESET = "\27[94m", "\27[33m", "\27[36m", "\27[39m"

-- syntax: s = colour.json(s)
-- Our own JSON text, coloured: keys, strings, and numbers/true/false/null. Its
-- strings hold no raw control character (the writer escapes them, C1 too).
function _M.json(s)
  local parts, i = {}, 1
  while i <= #s do
    local c = s:sub(i, i)
    if c == '"' then
      local j = i + 1
      while true do
        local q = s:find('[\\"]', j)
        if s:sub(q, q) == "\\" then j = q + 2 else j = q; break end
      end
      local str = s:sub(i, j)
      local is_key = s:find("^%s*:", j + 1) ~= nil
      parts[#parts + 1] = (is_key and KEY or STR) .. str .. RESET
      i = j + 1
    else
      local lit = s:match("^[%w%.%+%-]+", i)
      if lit then
        parts[#parts + 1] = LIT .. lit .. RESET
        i = i + #lit
      else
        parts[#parts + 1] = c
        i = i + 1
      end
    end
  end
  return table.concat(parts)
end

-- syntax: s = colour.yaml(s)
-- YAML coloured: the keys of block mappings (libyaml escapes control characters).
function _M.yaml(s)
  return (s:gsub("([^\n]*)\n", function(l)
    local lead, key, rest = l:match("^([%s%-]*)([%w_%.%-]+)(:.*)$")
    if key then return lead .. KEY .. key .. RESET .. rest .. "\n" end
    return l .. "\n"
  end))
end

-- syntax: bool = colour.stdout_tty()
function _M.stdout_tty()
  return prompt.isatty(1)
end

return _M
