-- acr.jmespath.lexer: a JMESPath expression as a list of tokens.
--
-- Each token is {type, value?, pos} with pos the 1-based byte offset where it starts.
-- Types: "unquoted" and "quoted" (identifiers), "number", "literal" (a backtick JSON
-- literal or a raw 'string', value already decoded), and the punctuation below.
-- The list ends with an "eof" token. A malformed token raises a syntax error.

local values = require "acr.jmespath.values"
local raise = require("acr.jmespath.error").raise

local _M = {}

local SINGLE = {
  ["."] = "dot", ["*"] = "star", ["]"] = "rbracket", ["{"] = "lbrace", ["}"] = "rbrace",
  ["("] = "lparen", [")"] = "rparen", [","] = "comma", [":"] = "colon", ["@"] = "current",
}

-- Two-character operators first, then their one-character prefixes.
local DOUBLE = { ["||"] = "or", ["&&"] = "and", ["=="] = "eq", ["!="] = "ne",
                 ["<="] = "lte", [">="] = "gte" }
local PREFIX = { ["|"] = "pipe", ["&"] = "expref", ["!"] = "not", ["<"] = "lt", [">"] = "gt" }

local WHITE = { [" "] = true, ["\t"] = true, ["\n"] = true, ["\r"] = true }

-- The text between delimiters starting after s[i]; a backslash takes the next
-- character with it, so an escaped delimiter does not end it. Returns the raw text
-- and the index after the closing delimiter.
local function delimited(s, i, delim, what)
  local j = i + 1
  while true do
    local c = s:sub(j, j)
    if c == "" then raise("syntax", "unterminated " .. what, i) end
    if c == delim then return s:sub(i + 1, j - 1), j + 1 end
    j = j + (c == "\\" and 2 or 1)
  end
end

local function literal(s, i)
  local text, after = delimited(s, i, "`", "JSON literal")
  text = text:gsub("\\`", "`")
  local v = values.decode(text)
  if v == nil then
    -- The deprecated form `foo` (an unquoted string), which jmespath.py (and so az)
    -- still accepts.
    local body = text:gsub("^[ \t\n\r]+", "")
    if body ~= "" and not body:find('"', 1, true) then
      v = values.decode('"' .. body .. '"')
    end
    if v == nil then raise("syntax", "invalid JSON in the literal `" .. text .. "`", i) end
  end
  return { type = "literal", value = v, pos = i }, after
end

local function raw_string(s, i)
  local text, after = delimited(s, i, "'", "raw string")
  -- only \' is an escape: every other backslash stays as it is
  text = text:gsub("\\'", "'")
  return { type = "literal", value = text, pos = i }, after
end

local function quoted(s, i)
  local _, after = delimited(s, i, '"', "quoted identifier")
  local v, msg = values.read_string(s:sub(i, after - 1), 1)
  if v == nil then raise("syntax", "bad quoted identifier: " .. msg, i) end
  return { type = "quoted", value = v, pos = i }, after
end

-- syntax: tokens = lexer.tokenize(s)
function _M.tokenize(s)
  local tokens = {}
  local i, n = 1, #s
  while i <= n do
    local c = s:sub(i, i)
    local tok
    if WHITE[c] then
      i = i + 1
    elseif c:find("^[%a_]") then
      local name = s:match("^[%w_]+", i)
      tok = { type = "unquoted", value = name, pos = i }
      i = i + #name
    elseif c:find("^[%d%-]") then
      local num = s:match("^%-?%d+", i)
      if not num then raise("syntax", "'-' must start a number", i) end
      tok = { type = "number", value = tonumber(num), pos = i }
      i = i + #num
    elseif c == "[" then
      local d = s:sub(i + 1, i + 1)
      if d == "]" then
        tok = { type = "flatten", pos = i }
        i = i + 2
      elseif d == "?" then
        tok = { type = "filter", pos = i }
        i = i + 2
      else
        tok = { type = "lbracket", pos = i }
        i = i + 1
      end
    elseif c == "`" then
      tok, i = literal(s, i)
    elseif c == "'" then
      tok, i = raw_string(s, i)
    elseif c == '"' then
      tok, i = quoted(s, i)
    elseif DOUBLE[s:sub(i, i + 1)] then
      tok = { type = DOUBLE[s:sub(i, i + 1)], pos = i }
      i = i + 2
    elseif SINGLE[c] or PREFIX[c] then
      tok = { type = SINGLE[c] or PREFIX[c], pos = i }
      i = i + 1
    elseif c == "=" then
      raise("syntax", "'=' is not an operator (use '==')", i)
    else
      raise("syntax", "unexpected character " .. string.format("%q", c), i)
    end
    if tok then tokens[#tokens + 1] = tok end
  end
  tokens[#tokens + 1] = { type = "eof", pos = n + 1 }
  return tokens
end

return _M
