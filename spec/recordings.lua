-- Loader for the recorded Azure traffic in spec/fixtures/recordings/ (see its INDEX.md,
-- and spec/fixtures/README.md for where the copy came from).
--
-- Three recorder formats are turned into one shape, an ordered list of interactions:
--   { method, url, request_headers, request_body, status, headers, body }
-- Header names are lowercased; a header recorded as a list of values is joined with ", ".
-- `body` is the response body text as the service sent it (nil when there was none).
--
-- Pure Lua; runs on Lua 5.4 and LuaJIT. Needs only Debian's lua-yaml (libyaml's event
-- parser: that package has no yaml.load) for the vcrpy files. JSON is read with a small
-- order-preserving parser here, because the order of keys matters twice: PowerShell
-- recordings are ordered by their keys, and .NET recordings store response bodies as
-- JSON trees that have to be written back to the exact text that was sent.

local M = {}

---------------------------------------------------------------------------
-- paths
---------------------------------------------------------------------------

local function this_file()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then src = src:sub(2) end
  return src
end

local function absolute(p)
  if p:sub(1, 1) == "/" then return p end
  local ok, lfs = pcall(require, "lfs")
  local cwd = ok and type(lfs) == "table" and lfs.currentdir and lfs.currentdir()
  if not cwd then return p end -- without lfs nothing in Lua can chdir: relative stays valid
  if p == "." then return cwd end
  return cwd .. "/" .. p:gsub("^%./", "")
end

-- Collapse "." and "name/.." segments (paths here never pass through symlinks that matter).
local function normalize(p)
  local absolute_ = p:sub(1, 1) == "/"
  local parts = {}
  for seg in p:gmatch("[^/]+") do
    if seg == ".." and #parts > 0 and parts[#parts] ~= ".." then
      parts[#parts] = nil
    elseif seg ~= "." and not (seg == ".." and absolute_) then
      parts[#parts + 1] = seg
    end
  end
  local s = table.concat(parts, "/")
  if absolute_ then return "/" .. s end
  return s == "" and "." or s
end

-- The repository root: the folder above spec/, where this file lives.
function M.root()
  local f = this_file():gsub("\\", "/")
  local dir = f:match("^(.*)/[^/]*$") or "."
  if dir == "" then dir = "/" end
  return absolute(normalize(dir .. "/.."))
end

function M.dir()
  local env = os.getenv("ACR_RECORDINGS")
  if env and env ~= "" then return (env:gsub("(.)/+$", "%1")) end
  return normalize(M.root() .. "/spec/fixtures/recordings")
end

local function shquote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

local function read_all(path)
  local fh, err = io.open(path, "rb")
  if not fh then error("recordings: cannot open " .. path .. ": " .. tostring(err), 3) end
  local s = fh:read("*a")
  fh:close()
  return s
end

-- Regular files under `base` (relative paths), with `maxdepth` 1 for the top level only.
local function files_under(base, maxdepth)
  local out = {}
  local ok, lfs = pcall(require, "lfs")
  if ok and type(lfs) == "table" and lfs.dir then
    local function walk(rel, depth)
      local here = rel == "" and base or (base .. "/" .. rel)
      local okd, iter, state = pcall(lfs.dir, here)
      if not okd then return end
      for e in iter, state do
        if e ~= "." and e ~= ".." then
          local r = rel == "" and e or (rel .. "/" .. e)
          local mode = lfs.attributes(base .. "/" .. r, "mode")
          if mode == "file" then out[#out + 1] = r
          elseif mode == "directory" and (not maxdepth or depth < maxdepth) then walk(r, depth + 1) end
        end
      end
    end
    walk("", 1)
  else
    local cmd = ("cd %s 2>/dev/null && find . %s -type f -print"):format(
      shquote(base), maxdepth and ("-maxdepth " .. maxdepth) or "")
    local p = io.popen(cmd)
    if p then
      for line in p:lines() do out[#out + 1] = (line:gsub("^%./", "")) end
      p:close()
    end
  end
  table.sort(out)
  return out
end

local function is_recording(name)
  return name:match("%.json$") or name:match("%.ya?ml$")
end

function M.list()
  local out = {}
  for _, f in ipairs(files_under(M.dir(), 1)) do
    if is_recording(f) then out[#out + 1] = f end
  end
  return out
end

M.EXAMPLES = "rest-api-specs-examples"

function M.examples()
  local out = {}
  for _, f in ipairs(files_under(M.dir() .. "/" .. M.EXAMPLES)) do
    if f:match("%.json$") then out[#out + 1] = M.EXAMPLES .. "/" .. f end
  end
  return out
end

---------------------------------------------------------------------------
-- small codecs
---------------------------------------------------------------------------

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then
    return string.char(0xC0 + math.floor(cp / 0x40), 0x80 + cp % 0x40)
  end
  if cp < 0x10000 then
    return string.char(0xE0 + math.floor(cp / 0x1000),
      0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
  end
  return string.char(0xF0 + math.floor(cp / 0x40000), 0x80 + math.floor(cp / 0x1000) % 0x40,
    0x80 + math.floor(cp / 0x40) % 0x40, 0x80 + cp % 0x40)
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local B64INV = {}
for i = 1, 64 do B64INV[B64:byte(i)] = i - 1 end

local function is_base64(s)
  return #s % 4 == 0 and s:match("^[A-Za-z0-9+/]*=?=?$") ~= nil
end

function M.base64_decode(s)
  s = s:gsub("%s", "")
  local out, n = {}, 0
  for i = 1, #s, 4 do
    local a, b, c, d = s:byte(i, i + 3)
    a, b = B64INV[a] or 0, B64INV[b] or 0
    local cv, dv = c and B64INV[c], d and B64INV[d]
    local v = a * 262144 + b * 4096 + (cv or 0) * 64 + (dv or 0)
    n = n + 1
    if cv == nil then
      out[n] = string.char(math.floor(v / 65536))
    elseif dv == nil then
      out[n] = string.char(math.floor(v / 65536), math.floor(v / 256) % 256)
    else
      out[n] = string.char(math.floor(v / 65536), math.floor(v / 256) % 256, v % 256)
    end
  end
  return table.concat(out)
end

---------------------------------------------------------------------------
-- order-preserving JSON
---------------------------------------------------------------------------
-- Nodes: string -> Lua string; true/false -> boolean; null -> M.null;
-- number -> { kind = "number", raw = "12.50" } (its text as recorded);
-- object -> { kind = "object", keys = {...}, vals = {...} };
-- array  -> { kind = "array", n, [1..n] }.

M.null = setmetatable({}, { __tostring = function() return "null" end })

local json = {}

local ESC = { ['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n", r = "\r", t = "\t" }

function json.decode(str)
  local pos = 1
  local function fail(msg) error(("recordings: JSON %s at byte %d"):format(msg, pos), 0) end
  local function ws() pos = str:find("[^ \t\r\n]", pos) or (#str + 1) end
  local value
  local function string_()
    pos = pos + 1
    local parts, n = {}, 0
    while true do
      local s, e = str:find('["\\]', pos)
      if not s then fail("unterminated string") end
      n = n + 1; parts[n] = str:sub(pos, s - 1)
      if str:sub(s, s) == '"' then pos = e + 1; break end
      local c = str:sub(s + 1, s + 1)
      if c == "u" then
        local cp = tonumber(str:sub(s + 2, s + 5), 16) or fail("bad \\u escape")
        local nxt = s + 6
        if cp >= 0xD800 and cp <= 0xDBFF and str:sub(nxt, nxt + 1) == "\\u" then
          local lo = tonumber(str:sub(nxt + 2, nxt + 5), 16)
          if lo and lo >= 0xDC00 and lo <= 0xDFFF then
            cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
            nxt = nxt + 6
          end
        end
        n = n + 1; parts[n] = utf8_char(cp)
        pos = nxt
      else
        n = n + 1; parts[n] = ESC[c] or fail("bad escape")
        pos = s + 2
      end
    end
    return table.concat(parts)
  end
  function value()
    ws()
    local c = str:sub(pos, pos)
    if c == "{" then
      pos = pos + 1
      local obj = { kind = "object", keys = {}, vals = {} }
      ws()
      if str:sub(pos, pos) == "}" then pos = pos + 1; return obj end
      while true do
        ws()
        if str:sub(pos, pos) ~= '"' then fail("expected key") end
        local k = string_()
        ws()
        if str:sub(pos, pos) ~= ":" then fail("expected ':'") end
        pos = pos + 1
        local v = value()
        obj.keys[#obj.keys + 1] = k
        obj.vals[#obj.vals + 1] = v
        ws()
        c = str:sub(pos, pos); pos = pos + 1
        if c == "}" then return obj end
        if c ~= "," then fail("expected ',' or '}'") end
      end
    elseif c == "[" then
      pos = pos + 1
      local arr = { kind = "array", n = 0 }
      ws()
      if str:sub(pos, pos) == "]" then pos = pos + 1; return arr end
      while true do
        arr.n = arr.n + 1
        arr[arr.n] = value()
        ws()
        c = str:sub(pos, pos); pos = pos + 1
        if c == "]" then return arr end
        if c ~= "," then fail("expected ',' or ']'") end
      end
    elseif c == '"' then
      return string_()
    elseif str:sub(pos, pos + 3) == "true" then pos = pos + 4; return true
    elseif str:sub(pos, pos + 4) == "false" then pos = pos + 5; return false
    elseif str:sub(pos, pos + 3) == "null" then pos = pos + 4; return M.null
    else
      local s, e = str:find("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
      if not s then fail("unexpected character") end
      pos = e + 1
      return { kind = "number", raw = str:sub(s, e) }
    end
  end
  local v = value()
  ws()
  if pos <= #str then fail("trailing data") end
  return v
end

-- Minimal escaping, as ARM (Newtonsoft/ASP.NET) writes it: only '"', '\' and control
-- characters; '/', '+', '<', non-ASCII etc. are sent as they are.
local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == "\\" then return "\\\\"
    elseif c == "\n" then return "\\n" elseif c == "\r" then return "\\r"
    elseif c == "\t" then return "\\t" elseif c == "\b" then return "\\b"
    elseif c == "\f" then return "\\f" end
    return ("\\u%04x"):format(c:byte())
  end) .. '"'
end

function json.encode(node, buf)
  local top = buf == nil
  buf = buf or {}
  local t = type(node)
  if t == "string" then buf[#buf + 1] = quote(node)
  elseif t == "boolean" then buf[#buf + 1] = tostring(node)
  elseif node == M.null or node == nil then buf[#buf + 1] = "null"
  elseif node.kind == "number" then buf[#buf + 1] = node.raw
  elseif node.kind == "object" then
    buf[#buf + 1] = "{"
    for i, k in ipairs(node.keys) do
      if i > 1 then buf[#buf + 1] = "," end
      buf[#buf + 1] = quote(k)
      buf[#buf + 1] = ":"
      json.encode(node.vals[i], buf)
    end
    buf[#buf + 1] = "}"
  elseif node.kind == "array" then
    buf[#buf + 1] = "["
    for i = 1, node.n do
      if i > 1 then buf[#buf + 1] = "," end
      json.encode(node[i], buf)
    end
    buf[#buf + 1] = "]"
  else
    error("recordings: not a JSON node")
  end
  if top then return table.concat(buf) end
end

-- Plain Lua tables (objects -> tables keyed by name, arrays -> sequences, null -> M.null).
function json.plain(node)
  if type(node) ~= "table" or node == M.null then return node end
  if node.kind == "number" then return tonumber(node.raw) end
  local out = {}
  if node.kind == "object" then
    for i, k in ipairs(node.keys) do out[k] = json.plain(node.vals[i]) end
  else
    for i = 1, node.n do out[i] = json.plain(node[i]) end
  end
  return out
end

local function field(obj, name)
  if type(obj) ~= "table" or obj.kind ~= "object" then return nil end
  for i, k in ipairs(obj.keys) do
    if k == name then return obj.vals[i] end
  end
  return nil
end

M.json = json

---------------------------------------------------------------------------
-- YAML (vcrpy cassettes) through libyaml's event stream
---------------------------------------------------------------------------

local function yaml_scalar(ev)
  local v, tag = ev.value, ev.tag
  if tag then
    if tag:match("binary$") then return M.base64_decode(v) end
    if tag:match(":int$") then return tonumber(v) end
    if tag:match(":null$") then return nil end
    return v
  end
  if ev.style ~= "PLAIN" then return v end
  if v == "" or v == "~" or v == "null" or v == "Null" or v == "NULL" then return nil end
  if v == "true" or v == "True" then return true end
  if v == "false" or v == "False" then return false end
  if v:match("^[-+]?%d+$") then return tonumber(v) end
  return v
end

local function yaml_load(text)
  local yaml = require "yaml"
  if not yaml.parser then
    if yaml.load then return yaml.load(text) end
    error("recordings: the yaml module has neither parser nor load")
  end
  local anchors = {}
  local stack = {} -- frames: { node = tbl, map = bool, key = pending key, n = count }
  local root
  local NIL = {}
  local function add(v, anchor)
    if anchor then anchors[anchor] = v end
    local top = stack[#stack]
    if not top then root = v; return end
    if top.map then
      if top.haskey then
        if v ~= NIL then top.node[top.key] = v end
        top.haskey = false
      else
        top.key, top.haskey = v, true
      end
    else
      top.n = top.n + 1
      if v ~= NIL then top.node[top.n] = v end
    end
  end
  for ev in yaml.parser(text) do
    local t = ev.type
    if t == "SCALAR" then
      local v = yaml_scalar(ev)
      if v == nil then v = NIL end
      add(v, ev.anchor)
    elseif t == "MAPPING_START" or t == "SEQUENCE_START" then
      local tbl = {}
      add(tbl, ev.anchor)
      stack[#stack + 1] = { node = tbl, map = t == "MAPPING_START", n = 0 }
    elseif t == "MAPPING_END" or t == "SEQUENCE_END" then
      stack[#stack] = nil
    elseif t == "ALIAS" then
      local v = anchors[ev.anchor]
      if v == nil then v = NIL end
      add(v)
    end
  end
  return root
end

---------------------------------------------------------------------------
-- normalisation helpers
---------------------------------------------------------------------------

local function join(v)
  if type(v) == "table" then
    local parts = {}
    for i, x in ipairs(v) do parts[i] = tostring(x) end
    return table.concat(parts, ", ")
  end
  return tostring(v)
end

-- Merge a header table (plain name -> string|list) into `into`, lowercasing names.
local function add_headers(into, hdrs)
  if type(hdrs) ~= "table" then return into end
  if hdrs.kind == "object" then
    for i, k in ipairs(hdrs.keys) do
      local v = json.plain(hdrs.vals[i])
      if v ~= M.null then
        local name = k:lower()
        local s = join(v)
        into[name] = into[name] and (into[name] .. ", " .. s) or s
      end
    end
  else
    for k, v in pairs(hdrs) do
      local name = tostring(k):lower()
      local s = join(v)
      into[name] = into[name] and (into[name] .. ", " .. s) or s
    end
  end
  return into
end

-- Python's repr of bytes, b'...' (vcrpy stored some request bodies that way, even
-- nested twice): undo each layer.
local PYESC = { n = "\n", r = "\r", t = "\t", ["\\"] = "\\", ["'"] = "'", ['"'] = '"', ["0"] = "\0" }
local function unrepr_bytes(s)
  while true do
    local inner = s:match("^b'(.*)'$") or s:match('^b"(.*)"$')
    if not inner then return s end
    s = inner:gsub("\\(x?)(%x?%x?)", function(x, hex)
      if x == "x" and #hex == 2 then return string.char(tonumber(hex, 16)) end
      return nil
    end):gsub("\\(.)", function(c) return PYESC[c] or ("\\" .. c) end)
  end
end

local function nonempty(s)
  if s == nil or s == "" then return nil end
  return s
end

---------------------------------------------------------------------------
-- the three recording formats
---------------------------------------------------------------------------

local function from_vcr(doc)
  local out = {}
  for _, it in ipairs(doc.interactions or {}) do
    local rq, rs = it.request or {}, it.response or {}
    local rbody = rq.body
    if type(rbody) == "table" then rbody = rbody.string or rbody.base64_string end
    if type(rbody) == "string" then rbody = unrepr_bytes(rbody) end
    local body = rs.body
    if type(body) == "table" then
      if body.base64_string then body = M.base64_decode(body.base64_string)
      else body = body.string end
    end
    local status = rs.status
    if type(status) == "table" then status = status.code end
    out[#out + 1] = {
      method = rq.method and tostring(rq.method):upper(),
      url = rq.uri,
      request_headers = add_headers({}, rq.headers),
      request_body = nonempty(rbody),
      status = tonumber(status),
      headers = add_headers({}, rs.headers),
      body = nonempty(body),
    }
  end
  return out
end

-- A body recorded as a JSON tree (.NET) goes back to compact text; a string stays text.
local function body_text(node)
  if node == nil or node == M.null then return nil end
  if type(node) == "string" then return nonempty(node) end
  return json.encode(node)
end

local function from_dotnet(doc)
  local out = {}
  local entries = field(doc, "Entries")
  for i = 1, (entries and entries.n or 0) do
    local e = entries[i]
    local function get(k) local v = field(e, k); if v == M.null then return nil end return v end
    local status = get("StatusCode")
    out[#out + 1] = {
      method = get("RequestMethod"),
      url = get("RequestUri"),
      request_headers = add_headers({}, get("RequestHeaders")),
      request_body = body_text(get("RequestBody")),
      status = status and tonumber(status.raw or status),
      headers = add_headers({}, get("ResponseHeaders")),
      body = body_text(get("ResponseBody")),
    }
  end
  return out
end

-- PowerShell stores Content as text, or base64 when isContentBase64 is true. Some files
-- hold base64 with the flag false ("bnVsbA==" for the 4-byte "null"): the Content-Length
-- tells these apart.
local function ps_content(part, headers)
  local c = field(part, "Content")
  if c == nil or c == M.null then return nil end
  if type(c) ~= "string" then return json.encode(c) end
  if field(part, "isContentBase64") == true then return nonempty(M.base64_decode(c)) end
  local cl = tonumber(headers["content-length"])
  if cl and cl ~= #c and c ~= "" and is_base64(c) then
    local d = M.base64_decode(c)
    if #d == cl then return nonempty(d) end
  end
  return nonempty(c)
end

local function from_powershell(doc)
  local out = {}
  for i, key in ipairs(doc.keys) do
    local e = doc.vals[i]
    local rq, rs = field(e, "Request"), field(e, "Response")
    local rqh = add_headers(add_headers({}, field(rq, "Headers")), field(rq, "ContentHeaders"))
    local rsh = add_headers(add_headers({}, field(rs, "Headers")), field(rs, "ContentHeaders"))
    local status = field(rs, "StatusCode")
    local method = field(rq, "Method")
    out[#out + 1] = {
      key = key,
      method = method ~= M.null and method or key:match("%+%$(%u+)%+"),
      url = field(rq, "RequestUri"),
      request_headers = rqh,
      request_body = ps_content(rq, rqh),
      status = status and tonumber(status.raw or status),
      headers = rsh,
      body = ps_content(rs, rsh),
    }
  end
  return out
end

function M.path(name) return M.dir() .. "/" .. name end

function M.format(name)
  if name:match("%.ya?ml$") then return "vcrpy" end
  if name:match("%.Recording%.json$") then return "powershell" end
  return "dotnet"
end

function M.load(name)
  local text = read_all(M.path(name))
  if name:match("%.ya?ml$") then
    return from_vcr(yaml_load(text) or {})
  end
  local doc = json.decode(text)
  if field(doc, "Entries") then return from_dotnet(doc) end
  return from_powershell(doc)
end

-- A spec example: parameters as plain Lua tables; responses by numeric status, each
-- with lowercased headers and the body as JSON text (nil when the example has none).
function M.load_example(relpath)
  local doc = json.decode(read_all(M.path(relpath)))
  local params = field(doc, "parameters")
  local res = { parameters = params and json.plain(params) or {}, responses = {} }
  local responses = field(doc, "responses")
  if responses then
    for i, code in ipairs(responses.keys) do
      local r = responses.vals[i]
      local b = field(r, "body")
      res.responses[tonumber(code) or code] = {
        headers = add_headers({}, field(r, "headers")),
        body = (b ~= nil and b ~= M.null) and json.encode(b) or nil,
      }
    end
  end
  return res
end

return M
