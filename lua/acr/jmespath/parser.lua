-- acr.jmespath.parser: tokens to a syntax tree, by top-down operator precedence.
--
-- Each token type has a binding power; an operator binds the expression to its left
-- while its power is above the caller's. A projection ([*], *, [], [?...], a slice)
-- takes everything after it that binds at least as tightly as PROJECTION_STOP (dots,
-- brackets, filters) as the expression applied to each element; a pipe, a
-- comparison, && or || ends it.
--
-- Nodes are tables {type = ..., ...}:
--   field{name}  current  literal{value}  subexpr{left,right}  pipe{left,right}
--   index{left,index}  slice{left,start,stop,step}  projection{left,right}
--   value_projection{left,right}  flatten{left}  filter{left,cond,right}
--   multi_list{items}  multi_hash{keys,items}  ["or"]{left,right}  ["and"]{left,right}
--   ["not"]{expr}  compare{op,left,right}  call{name,args,pos}  expref{expr}
-- Each node also has depth, the height of its subtree, bounded by MAX_DEPTH.

local lexer = require "acr.jmespath.lexer"
local raise = require("acr.jmespath.error").raise

local _M = {}

local MAX_DEPTH = 256   -- nesting of the tree (and of the parser's own recursion)
_M.MAX_DEPTH = MAX_DEPTH

local PROJECTION_STOP = 10

local BP = {
  eof = 0, unquoted = 0, quoted = 0, literal = 0, rbracket = 0, rparen = 0, comma = 0,
  rbrace = 0, number = 0, current = 0, expref = 0, colon = 0,
  pipe = 1, ["or"] = 2, ["and"] = 3,
  eq = 5, ne = 5, lt = 5, lte = 5, gt = 5, gte = 5,
  flatten = 9, star = 20, filter = 21, dot = 40, ["not"] = 45,
  lbrace = 50, lbracket = 55, lparen = 60,
}

local COMPARATORS = { eq = "==", ne = "!=", lt = "<", lte = "<=", gt = ">", gte = ">=" }

local WHAT = {
  eof = "the end of the expression", unquoted = "an identifier",
  quoted = "a quoted identifier", literal = "a literal", number = "a number",
  rbracket = "']'", rparen = "')'", comma = "','", rbrace = "'}'", colon = "':'",
  current = "'@'", expref = "'&'", pipe = "'|'", ["or"] = "'||'", ["and"] = "'&&'",
  eq = "'=='", ne = "'!='", lt = "'<'", lte = "'<='", gt = "'>'", gte = "'>='",
  flatten = "'[]'", star = "'*'", filter = "'[?'", dot = "'.'", ["not"] = "'!'",
  lbrace = "'{'", lbracket = "'['", lparen = "'('",
}

local CHILDREN = { "left", "right", "expr", "cond" }

-- A node with its depth; too deep a tree is refused here, before it is compiled.
local function node(t, pos)
  local d = 0
  for _, k in ipairs(CHILDREN) do
    local c = t[k]
    if c and c.depth > d then d = c.depth end
  end
  local list = t.args or t.items
  if list then
    for _, c in ipairs(list) do
      if c.depth > d then d = c.depth end
    end
  end
  t.depth = d + 1
  if t.depth > MAX_DEPTH then
    raise("syntax", "expression nested more than " .. MAX_DEPTH .. " levels deep", pos)
  end
  return t
end

local CURRENT = { type = "current", depth = 1 }

local Parser = {}
Parser.__index = Parser

function Parser:peek(k)
  return self.tokens[self.i + (k or 0)]
end

function Parser:advance()
  local t = self.tokens[self.i]
  self.i = self.i + 1
  return t
end

function Parser:unexpected(tok, wanted)
  local found = WHAT[tok.type] or tok.type
  local msg = wanted and ("expected " .. wanted .. ", found " .. found) or ("unexpected " .. found)
  raise("syntax", msg, tok.pos)
end

function Parser:expect(ttype)
  local t = self:peek()
  if t.type ~= ttype then self:unexpected(t, WHAT[ttype]) end
  return self:advance()
end

function Parser:expression(rbp)
  self.depth = self.depth + 1
  if self.depth > MAX_DEPTH then
    raise("syntax", "expression nested more than " .. MAX_DEPTH .. " levels deep",
          self:peek().pos)
  end
  local tok = self:advance()
  local nud = self["nud_" .. tok.type]
  if not nud then self:unexpected(tok, "an expression") end
  local left = nud(self, tok)
  while rbp < BP[self:peek().type] do
    tok = self:advance()
    local led = self["led_" .. tok.type]
    if not led then self:unexpected(tok) end
    left = led(self, tok, left)
  end
  self.depth = self.depth - 1
  return left
end

---------------------------------------------------------------------------
-- what an expression can start with
---------------------------------------------------------------------------

function Parser:nud_literal(tok)
  return node({ type = "literal", value = tok.value })
end

function Parser:nud_unquoted(tok)
  return node({ type = "field", name = tok.value, pos = tok.pos })
end

function Parser:nud_quoted(tok)
  if self:peek().type == "lparen" then
    raise("syntax", "a function name cannot be quoted", tok.pos)
  end
  return node({ type = "field", name = tok.value, quoted = true, pos = tok.pos })
end

function Parser:nud_current()
  return CURRENT
end

function Parser:nud_star(tok)
  local right = self:projection_rhs(BP.star)
  return node({ type = "value_projection", left = CURRENT, right = right }, tok.pos)
end

function Parser:nud_flatten(tok)
  local left = node({ type = "flatten", left = CURRENT })
  local right = self:projection_rhs(BP.flatten)
  return node({ type = "projection", left = left, right = right }, tok.pos)
end

function Parser:nud_filter(tok)
  return self:led_filter(tok, CURRENT)
end

function Parser:nud_lbracket(tok)
  local nt = self:peek().type
  if nt == "number" or nt == "colon" then
    return self:index_or_slice(tok, CURRENT)
  elseif nt == "star" and self:peek(1).type == "rbracket" then
    self:advance()
    self:advance()
    local right = self:projection_rhs(BP.star)
    return node({ type = "projection", left = CURRENT, right = right }, tok.pos)
  end
  return self:multi_list(tok)
end

function Parser:nud_lbrace(tok)
  return self:multi_hash(tok)
end

function Parser:nud_lparen()
  local e = self:expression(0)
  self:expect("rparen")
  return e
end

function Parser:nud_not(tok)
  return node({ type = "not", expr = self:expression(BP["not"]) }, tok.pos)
end

function Parser:nud_expref(tok)
  return node({ type = "expref", expr = self:expression(BP.expref) }, tok.pos)
end

---------------------------------------------------------------------------
-- what can follow an expression
---------------------------------------------------------------------------

function Parser:led_dot(tok, left)
  local right = self:dot_rhs(BP.dot)
  return node({ type = "subexpr", left = left, right = right }, tok.pos)
end

function Parser:led_pipe(tok, left)
  local right = self:expression(BP.pipe)
  return node({ type = "pipe", left = left, right = right }, tok.pos)
end

function Parser:led_or(tok, left)
  return node({ type = "or", left = left, right = self:expression(BP["or"]) }, tok.pos)
end

function Parser:led_and(tok, left)
  return node({ type = "and", left = left, right = self:expression(BP["and"]) }, tok.pos)
end

for ttype, op in pairs(COMPARATORS) do
  Parser["led_" .. ttype] = function(self, tok, left)
    local right = self:expression(BP[ttype])
    return node({ type = "compare", op = op, left = left, right = right }, tok.pos)
  end
end

function Parser:led_flatten(tok, left)
  left = node({ type = "flatten", left = left }, tok.pos)
  local right = self:projection_rhs(BP.flatten)
  return node({ type = "projection", left = left, right = right }, tok.pos)
end

function Parser:led_filter(tok, left)
  local cond = self:expression(0)
  self:expect("rbracket")
  local right = self:projection_rhs(BP.filter)
  return node({ type = "filter", left = left, cond = cond, right = right }, tok.pos)
end

function Parser:led_lbracket(tok, left)
  local nt = self:peek().type
  if nt == "number" or nt == "colon" then
    return self:index_or_slice(tok, left)
  end
  self:expect("star")
  self:expect("rbracket")
  local right = self:projection_rhs(BP.star)
  return node({ type = "projection", left = left, right = right }, tok.pos)
end

function Parser:led_lparen(tok, left)
  if left.type ~= "field" or left.quoted then
    raise("syntax", "only a name can be called as a function", tok.pos)
  end
  local args = {}
  if self:peek().type ~= "rparen" then
    while true do
      args[#args + 1] = self:expression(0)
      if self:peek().type == "rparen" then break end
      self:expect("comma")
    end
  end
  self:expect("rparen")
  return node({ type = "call", name = left.name, args = args, pos = left.pos }, tok.pos)
end

---------------------------------------------------------------------------
-- pieces
---------------------------------------------------------------------------

-- What a projection applies to each element: nothing (identity) when the next token
-- ends the projection, else a chain of dots, brackets and filters.
function Parser:projection_rhs(rbp)
  local t = self:peek()
  if BP[t.type] < PROJECTION_STOP then return CURRENT end
  if t.type == "lbracket" or t.type == "filter" then return self:expression(rbp) end
  if t.type == "dot" then
    self:advance()
    return self:dot_rhs(rbp)
  end
  self:unexpected(t, "'.', '[' or the end of the projection")
end

-- After a dot: an identifier, '*', a function call, a multi-select list or hash.
function Parser:dot_rhs(rbp)
  local t = self:peek()
  if t.type == "unquoted" or t.type == "quoted" or t.type == "star" then
    return self:expression(rbp)
  elseif t.type == "lbracket" then
    self:advance()
    return self:multi_list(t)
  elseif t.type == "lbrace" then
    self:advance()
    return self:multi_hash(t)
  end
  self:unexpected(t, "an identifier, '*', '[' or '{' after '.'")
end

-- [n], [start:stop:step] (the '[' is read; the next token is a number or ':').
function Parser:index_or_slice(open, left)
  local parts, n = {}, 1
  while self:peek().type ~= "rbracket" do
    local t = self:advance()
    if t.type == "colon" then
      n = n + 1
      if n > 3 then raise("syntax", "a slice has at most three parts", t.pos) end
    elseif t.type == "number" and parts[n] == nil then
      parts[n] = t.value
    else
      self:unexpected(t, n == 1 and "':' or ']'" or "a number, ':' or ']'")
    end
  end
  self:advance()
  if n == 1 then
    return node({ type = "index", left = left, index = parts[1] }, open.pos)
  end
  if parts[3] == 0 then raise("invalid-value", "a slice step cannot be 0", open.pos) end
  local slice = node({ type = "slice", left = left, start = parts[1], stop = parts[2],
                       step = parts[3] }, open.pos)
  local right = self:projection_rhs(BP.star)
  return node({ type = "projection", left = slice, right = right }, open.pos)
end

-- [a, b, ...] (the '[' is read).
function Parser:multi_list(open)
  local items = {}
  while true do
    items[#items + 1] = self:expression(0)
    if self:peek().type == "rbracket" then break end
    self:expect("comma")
  end
  self:advance()
  return node({ type = "multi_list", items = items }, open.pos)
end

-- {k: a, ...} (the '{' is read).
function Parser:multi_hash(open)
  local keys, items = {}, {}
  while true do
    local k = self:peek()
    if k.type ~= "unquoted" and k.type ~= "quoted" then
      self:unexpected(k, "a key name")
    end
    self:advance()
    self:expect("colon")
    keys[#keys + 1] = k.value
    items[#items + 1] = self:expression(0)
    if self:peek().type == "rbrace" then break end
    self:expect("comma")
  end
  self:advance()
  return node({ type = "multi_hash", keys = keys, items = items }, open.pos)
end

-- syntax: tree = parser.parse(s) — raises a syntax (or invalid-value) error
function _M.parse(s)
  local p = setmetatable({ tokens = lexer.tokenize(s), i = 1, depth = 0 }, Parser)
  local tree = p:expression(0)
  local t = p:peek()
  if t.type ~= "eof" then p:unexpected(t, "the end of the expression") end
  return tree
end

return _M
