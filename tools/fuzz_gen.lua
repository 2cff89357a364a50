-- Server answers for tools/fuzz.lua: statuses, headers, URLs and bodies, plausible ones
-- built from valid documents and the recordings in spec/fixtures/recordings, and their
-- mutations. Every choice comes from math.random, which the driver seeds per case, and
-- nothing here iterates a hash table in pairs() order (Lua randomises it per process):
-- the same seed and case give the same bytes.
local cjson = require "cjson.safe"
local R = require "recordings"

local M = {}
local random, char, rep = math.random, string.char, string.rep
local NULL = cjson.null
M.NULL = NULL

local function pick(t) return t[random(#t)] end
local function chance(p) return random() < p end

---------------------------------------------------------------------------
-- JSON text: sorted keys (cjson would follow pairs() order), and raw fragments for
-- what no encoder writes (1e400, nesting past every limit, invalid numbers)
---------------------------------------------------------------------------

local RAW = {}
local function raw(s) return setmetatable({ s }, RAW) end

local LISTS = { value = true, actions = true, passwords = true, certificates = true,
                details = true }

local function sorted_keys(t)
  local keys = {}
  for k in pairs(t) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    if type(a) == "number" or type(a) == "string" then return a < b end
    return false
  end)
  return keys
end

local function is_list(t, key)
  local n = #t
  if n == 0 then return next(t) == nil and LISTS[key] == true end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function quote(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' or c == "\\" then return "\\" .. c end
    return ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function number_text(v)
  if v ~= v then return "NaN" end
  if v == math.huge then return "1e400" end
  if v == -math.huge then return "-1e400" end
  if math.type(v) == "integer" then return ("%d"):format(v) end
  return ("%.17g"):format(v)
end

local encode
local function encode_table(t, key, out)
  if getmetatable(t) == RAW then out[#out + 1] = t[1]; return end
  if is_list(t, key) then
    out[#out + 1] = "["
    for i = 1, #t do
      if i > 1 then out[#out + 1] = "," end
      encode(t[i], nil, out)
    end
    out[#out + 1] = "]"
    return
  end
  out[#out + 1] = "{"
  for i, k in ipairs(sorted_keys(t)) do
    if i > 1 then out[#out + 1] = "," end
    out[#out + 1] = quote(tostring(k)) .. ":"
    encode(t[k], tostring(k), out)
  end
  out[#out + 1] = "}"
end

encode = function(v, key, out)
  local ty = type(v)
  if v == NULL or v == nil then out[#out + 1] = "null"
  elseif ty == "table" then encode_table(v, key, out)
  elseif ty == "string" then out[#out + 1] = quote(v)
  elseif ty == "number" then out[#out + 1] = number_text(v)
  else out[#out + 1] = tostring(v) end
end

function M.encode(v)
  local out = {}
  encode(v, nil, out)
  return table.concat(out)
end

---------------------------------------------------------------------------
-- URLs: on the endpoint's origin, and every way of pointing elsewhere
---------------------------------------------------------------------------

M.ENDPOINT = "http://127.0.0.1:9"
M.ORIGIN = { scheme = "http", host = "127.0.0.1", port = 9 }   -- of ENDPOINT

local HOSTILE = {
  "https://evil.example/x", "http://evil.example:9/x", "http://127.0.0.2:9/x",
  "http://127.0.0.1:10/x", "https://127.0.0.1:9/x", "http://127.0.0.1/x", "//evil.example/x",
  "///evil.example/x", "/\\evil.example/x", "\\\\evil.example\\x", "http:evil.example/x",
  "http:/evil.example/x", "x/y", "?a=b", "#f", "http://127.1:9/x", "http://0x7f000001:9/x",
  "http://2130706433:9/x", "http://0177.0.0.1:9/x", "http://127.000.000.001:9/x",
  "http://127.0.0.1.:9/x", "http://u:p@127.0.0.1:9/x", "http://127.0.0.1:9@evil.example/x",
  "http://127.0.0.1:9\\@evil.example/x", "http://127.0.0.1:9#@evil.example/",
  "http://127.0.0.1:9?@evil.example/", "http://%31%32%37.0.0.1:9/x", "http://127%2e0.0.1:9/x",
  "http://127.0.0.1%3a9/x", "http://127.0.0.1:9/x\r\nHost: evil.example",
  "http://127.0.0.1:9/x\0@evil.example", "http://evil.example/\r\n", "http://127.0.0.1:9/\tx",
  "http://127.0.0.1:9/x y", "http://[::1]:9/x", "http://[::ffff:127.0.0.1]:9/x",
  "http://localhost:9/x", "HTTP://127.0.0.1:9/x", "http://127.0.0.1:09/x",
  "http://127.0.0.1:99999999999/x", "http://127.0.0.1:-9/x", "http://127.0.0.1:+9/x",
  "http://127.0.0.1: 9/x", "javascript:alert(1)", "file:///etc/passwd", "ftp://127.0.0.1:9/x",
  "", " ", "http://", "http://:9/x", "http://127.0.0.1:9", "http://127.0.0.1:9/%00",
  "http://127.0.0.1:9/x?api-version=1&API-VERSION=2", "http://127.0.0.1:9/x?api-version",
  "http://127.0.0.1:9/x#frag?api-version=1", "http://127.0.0.1:9/../../../x",
  "http://" .. rep("a", 300) .. ":9/x", "http://127.0.0.1:9/" .. rep("p", 70000),
  "http://127.0.0.1:9/\xff\xfe", "http://ｅｖｉｌ.example/x", "http://127。0。0。1:9/x",
}

-- A URL for a Location, Azure-AsyncOperation or nextLink: mostly good, often not.
function M.url(env, what)
  local r = random()
  if r < 0.55 then
    return M.ENDPOINT .. env.reg .. "/fuzz/" .. what .. "/" .. random(1, 3) ..
           (chance(0.5) and "?api-version=2019-05-01-preview" or "")
  elseif r < 0.65 then
    return env.reg .. "/fuzz/" .. what .. "/" .. random(1, 3)   -- relative
  end
  return pick(HOSTILE)
end

---------------------------------------------------------------------------
-- values of the wrong kind, for any field
---------------------------------------------------------------------------

local function deep(n, open, close) return raw(rep(open, n) .. "1" .. rep(close, n)) end

local ODD = {
  function() return NULL end, function() return true end, function() return false end,
  function() return 0 end, function() return -1 end, function() return 1.5 end,
  function() return 2 ^ 53 + 1 end, function() return math.mininteger end,
  function() return raw("1e400") end, function() return raw("-1e400") end,
  function() return raw("123456789012345678901234567890") end, function() return raw("-0") end,
  function() return raw("1e-400") end, function() return raw("NaN") end,
  function() return raw("0x7fffffffffffffff") end, function() return raw("Infinity") end,
  function() return "" end, function() return "x" end,
  function() return rep("long", random(2500, 20000)) end,
  function() return "with\0nul" end, function() return "\xff\xfe\xc0\x80" end,
  function() return "line\r\nbreak" end, function() return {} end,
  function() return { 1, 2, 3 } end, function() return { a = { b = {} } } end,
  function() return { NULL } end, function() return deep(random(1, 70), "[", "]") end,
  function() return deep(random(60, 66), '{"a":', "}") end,
  function() return pick(HOSTILE) end,
}
function M.odd_value() return pick(ODD)() end

---------------------------------------------------------------------------
-- valid documents, as ARM sends them
---------------------------------------------------------------------------

local STATES = { "Succeeded", "Creating", "Updating", "Deleting", "Failed", "Canceled",
                 "Cancelled", "succeeded", "FAILED", "InProgress", "Accepted", "", "Weird" }
local NAMES = { "abcde", "my-token-1", "map_1xyz", "tok", "../../x", "a/b", ("n"):rep(51) }

local function item_name() return NAMES[chance(0.85) and random(1, 3) or random(#NAMES)] end

function M.scope_map_doc(env, name)
  name = name or item_name()
  return { id = env.reg .. "/scopeMaps/" .. name, name = name,
           type = "Microsoft.ContainerRegistry/registries/scopeMaps",
           properties = { description = "d", type = "UserDefined",
                          creationDate = "2019-05-01T00:00:00Z",
                          provisioningState = chance(0.7) and "Succeeded" or pick(STATES),
                          actions = { "repositories/a/content/read", "repositories/a/metadata/read" } } }
end

function M.token_doc(env, name)
  name = name or item_name()
  return { id = env.reg .. "/tokens/" .. name, name = name,
           type = "Microsoft.ContainerRegistry/registries/tokens",
           properties = {
             status = chance(0.5) and "enabled" or "disabled",
             scopeMapId = env.reg .. "/scopeMaps/mymap", objectId = "00000000-0000-0000-0000-000000000001",
             creationDate = "2019-05-01T00:00:00Z",
             provisioningState = chance(0.7) and "Succeeded" or pick(STATES),
             credentials = { certificates = {}, passwords = {
               { name = "password1", creationTime = "2019-05-01T00:00:00Z",
                 expiry = "2030-01-01T00:00:00Z" } } } } }
end

-- Generated passwords carry a marker: tostring() of the result must never show it.
M.SECRET = "FUZZSECRETpw"
function M.credentials_doc()
  return { username = "my-token-1", passwords = {
    { name = "password1", value = M.SECRET .. "1", creationTime = "2019-05-01T00:00:00Z",
      expiry = "2030-01-01T00:00:00Z" },
    { name = "password2", value = M.SECRET .. "2" } } }
end

function M.status_doc(env)
  local st = chance(0.5) and "Succeeded" or pick(STATES)
  local d = { id = env.reg .. "/fuzz/async/1", status = st, startTime = "2019-05-01T00:00:00Z" }
  if st:lower() == "failed" or chance(0.1) then
    d.error = { code = chance(0.8) and "QuotaExceeded" or 429, message = "no" }
  end
  return d
end

function M.error_doc()
  if chance(0.2) then return { error = "invalid_client", error_description = "AADSTS7000215" } end
  return { error = { code = pick{ "ResourceNotFound", "Conflict", "BadRequest", "TooManyRequests" },
                     message = "the service says no", target = "name",
                     details = { { code = "Inner", message = "detail" } } } }
end

function M.page_doc(env, make_item)
  local items = {}
  for i = 1, random(0, chance(0.05) and 300 or 4) do items[i] = make_item(env) end
  local d = { value = items }
  local r = random()
  if r < 0.5 then d.nextLink = M.url(env, "page")
  elseif r < 0.6 then d.nextLink = NULL
  elseif r < 0.7 then d.nextLink = "" end
  return d
end

---------------------------------------------------------------------------
-- the recordings, with their ARM host moved to the fuzz endpoint (most of the time)
---------------------------------------------------------------------------

local ARM = ("https://management.azure.com"):gsub("%p", "%%%0")   -- as a pattern

local function header_pairs(h)
  local out = {}
  for _, k in ipairs(sorted_keys(h or {})) do out[#out + 1] = { k, h[k] } end
  return out
end

local RECORDED = {}
local function add_recorded(status, headers, body)
  RECORDED[#RECORDED + 1] = { status = tonumber(status) or 200, headers = header_pairs(headers),
                              body = body }
end

function M.load_recordings()
  for _, f in ipairs(R.list()) do
    for _, it in ipairs(R.load(f)) do add_recorded(it.status, it.headers, it.body) end
  end
  for _, f in ipairs(R.examples()) do
    local ex = R.load_example(f)
    for _, code in ipairs(sorted_keys(ex.responses)) do
      local r = ex.responses[code]
      add_recorded(code, r.headers, r.body)
    end
  end
  return #RECORDED
end

local function moved(s)
  if type(s) ~= "string" or chance(0.2) then return s end
  return (s:gsub(ARM, M.ENDPOINT))
end

function M.recorded()
  local rec = pick(RECORDED)
  local h = {}
  for _, kv in ipairs(rec.headers) do h[kv[1]] = moved(kv[2]) end
  return { status = rec.status, headers = h, body = moved(rec.body) }
end

---------------------------------------------------------------------------
-- mutations of a document (before it is text) and of its text
---------------------------------------------------------------------------

-- Every (table, key) slot of a tree, in a stable order.
local function slots(t, out, depth)
  if type(t) ~= "table" or getmetatable(t) == RAW or depth > 8 then return out end
  for _, k in ipairs(sorted_keys(t)) do
    out[#out + 1] = { t, k }
    slots(t[k], out, depth + 1)
  end
  return out
end

local FIELDS = { "name", "id", "type", "properties", "value", "nextLink", "status", "error",
                 "code", "message", "provisioningState", "actions", "credentials", "passwords",
                 "scopeMapId", "username", "details", "description" }

local function mutate_tree(doc)
  if type(doc) ~= "table" then return M.odd_value() end
  local r = random()
  if r < 0.4 then   -- a named field, where ARM puts it, with a value of the wrong kind
    local holder = doc
    if chance(0.4) and type(doc.properties) == "table" then holder = doc.properties end
    if chance(0.2) and type(doc.error) == "table" then holder = doc.error end
    holder[pick(FIELDS)] = M.odd_value()
    return doc
  end
  local all = slots(doc, {}, 0)
  if #all == 0 then return M.odd_value() end
  local s = pick(all)
  if r < 0.55 then s[1][s[2]] = nil else s[1][s[2]] = M.odd_value() end
  return doc
end

local function junk(n)
  local t = {}
  for i = 1, n do t[i] = char(random(0, 255)) end
  return table.concat(t)
end

local TEXT = {
  function(s) return s:sub(1, random(0, math.max(#s - 1, 0))) end,                -- truncated
  function(s)                                                                   -- bytes flipped
    local b = { s:byte(1, -1) }
    for _ = 1, random(1, 4) do if #b > 0 then b[random(#b)] = random(0, 255) end end
    return #b > 0 and char(table.unpack(b)) or s
  end,
  function(s) local p = random(0, #s); return s:sub(1, p) .. junk(random(1, 8)) .. s:sub(p + 1) end,
  function(s) return rep("[", 70) .. s .. rep("]", 70) end,
  function(s) return rep('{"a":', random(60, 300)) .. s .. rep("}", random(0, 300)) end,
  function(s) return "\xef\xbb\xbf" .. s end,
  function(s) return " \r\n\t" .. s .. " trailing" end,
  function(s) return s .. s end,
  function(s)
    return (s:gsub("%d+", pick{ "1e400", "-1e400", "123456789012345678901234567890", "NaN",
                               "0x10", "1.5", "-0", "9007199254740993" }, 1))
  end,
  function(s) return (s:gsub('"([%w]+)":', '"%1\\u0000":', 1)) end,
}

local NOT_JSON = {
  "", " ", "\n", "null", "true", "0", '"s"', "[]", "{}", "nul", "{", '{"a":', "[1,",
  "<html><body>502 Bad Gateway</body></html>", "\0", "\0{}", "\xff\xfe{", "-", "--1",
  "Infinity", "NaN", "0x", '{"error":', '"\\ud800"', '"\\u12"', "[" .. rep("1,", 5000) .. "1]",
}

function M.mutate_text(s)
  s = s or ""
  if chance(0.15) then return pick(NOT_JSON) end
  if chance(0.05) then return junk(random(1, 64)) end
  return pick(TEXT)(s)
end

-- A body: the document as text, maybe mutated first as a tree and then as text.
function M.body(doc)
  if doc == nil then return nil end
  if chance(0.25) then doc = mutate_tree(doc) end
  local text = M.encode(doc)
  if chance(0.25) then text = M.mutate_text(text) end
  return text
end

---------------------------------------------------------------------------
-- statuses and headers
---------------------------------------------------------------------------

local STATUSES = { 100, 101, 103, 199, 200, 201, 202, 203, 204, 206, 299, 300, 301, 302, 304,
                   307, 308, 400, 401, 403, 404, 405, 408, 409, 410, 412, 429, 499, 500, 501,
                   502, 503, 504, 505, 599, 600, 999, 0, -1, -200, 2 ^ 31, 2 ^ 31 + 200,
                   2 ^ 32 + 200, math.maxinteger, math.mininteger, "200", "404", 200.0, 202.0 }
function M.status() return pick(STATUSES) end

local RETRY = { "0", "1", "2", "0.5", " 3 ", "-1", "1e9", "99999999999999999999999999999999",
                "999999999999999999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT",
                "Fri, 31 Dec 9999 23:59:59 GMT", "nan", "inf", "0x10", "5.5.5", "", "abc",
                "1\0", rep("9", 400) }
local RATE = { "1199", "0", "-1", "", "abc", "99999999999999999999", rep("1", 300), "1.5" }

local NAMED = {
  ["retry-after"] = RETRY, ["retry-after-ms"] = RETRY, ["x-ms-retry-after-ms"] = RETRY,
  ["x-ms-ratelimit-remaining-subscription-reads"] = RATE,
  ["x-ms-ratelimit-remaining-subscription-writes"] = RATE,
  ["x-ms-ratelimit-remaining-subscription-deletes"] = RATE,
  ["content-type"] = { "application/json", "application/json; charset=utf-8", "text/html",
                       "text/plain", "", "application/octet-stream" },
}
local HEADER_NAMES = sorted_keys(NAMED)
for _, n in ipairs{ "location", "azure-asyncoperation", "x-ms-request-id",
                    "x-ms-correlation-request-id", "x-ms-client-request-id", "set-cookie",
                    "www-authenticate", "content-length" } do
  HEADER_NAMES[#HEADER_NAMES + 1] = n
end

local ODD_NAMES = { "Location", "LOCATION", " location", "location\0", "", "Azure-AsyncOperation",
                    "azure-asyncoperation\r\n", "retry-after ", rep("h", 5000), "\xff" }
local NON_STRING = { 42, 1.5, true, false, {}, { "a" }, NULL, print }
local NON_STRING_KEYS = { 1, 2.5, true, {}, print }

local function header_value(name, env)
  local r = random()
  if name == "location" or name == "azure-asyncoperation" then
    if r < 0.7 then return M.url(env, name == "location" and "loc" or "async") end
  elseif NAMED[name] and r < 0.6 then
    return pick(NAMED[name])
  end
  r = random()
  if r < 0.25 then return pick(NON_STRING) end
  if r < 0.4 then return rep("v", random(1000, 100000)) end
  if r < 0.6 then return pick{ "a\0b", "a\r\nb: c", "\r\n\r\n", "\n", "\0", "é", "" } end
  return M.odd_value()
end

function M.mutate_headers(h, env)
  for _ = 1, random(1, 4) do
    local r = random()
    if r < 0.6 then
      local name = pick(HEADER_NAMES)
      h[name] = header_value(name, env)
    elseif r < 0.75 then
      h[pick(ODD_NAMES)] = header_value("location", env)
    elseif r < 0.85 then
      h[pick(NON_STRING_KEYS)] = pick{ "x", M.ENDPOINT .. "/x", 1 }
    else
      local keys = sorted_keys(h)
      if #keys > 0 then h[keys[random(#keys)]] = nil end
    end
  end
  return h
end

function M.base_headers()
  local h = { ["content-type"] = "application/json; charset=utf-8",
              ["x-ms-request-id"] = "11111111-2222-3333-4444-555555555555",
              ["x-ms-correlation-request-id"] = "66666666-7777-8888-9999-000000000000" }
  if chance(0.3) then h["retry-after"] = pick{ "0", "1", "10" } end
  return h
end

---------------------------------------------------------------------------
-- transport failures and misuse
---------------------------------------------------------------------------

local TRANSPORT = { "Timeout", "ConnectionFailed", "TlsError", "ResponseTooLarge",
                    "TransportError", "weird", "", 123 }
function M.transport()
  local msg = pick{ false, "", "connection refused", "a\0b", rep("m", 10000), 12 }
  return { terr = pick(TRANSPORT), msg = msg or nil }
end

-- Values a driver must not pass: feed() may raise an argument error for these, and
-- nothing else.
local BAD_STATUS = { 1.5, 0 / 0, math.huge, -math.huge, "abc", {}, true, 2 ^ 63 }
local BAD_HEADERS = { "location: x", 42, true, print }
local BAD_BODY = { 42, {}, true, print }
local BAD_TERR = { {}, true, print }
function M.misuse(a)
  local r = random()
  if r < 0.4 then a.status = pick(BAD_STATUS); a.terr = nil
  elseif r < 0.6 then a.headers = pick(BAD_HEADERS)
  elseif r < 0.8 then a.body = pick(BAD_BODY)
  else a.terr = pick(BAD_TERR) end
  a.misuse = true
  return a
end

---------------------------------------------------------------------------
-- answers
---------------------------------------------------------------------------

local TERMINAL = { 400, 401, 403, 404, 405, 409, 412, 429, 500, 501, 502, 503, 504, 505, 100,
                   302, 0, -1 }

-- An answer that is an error every time: the operation must end within a few of them.
function M.terminal(env)
  if chance(0.2) then return { terr = pick{ "Timeout", "ConnectionFailed", "TlsError" } } end
  local h = M.base_headers()
  if chance(0.3) then h["retry-after"] = pick{ "0", "1", "3601", "abc" } end
  if chance(0.2) then h["azure-asyncoperation"] = M.url(env, "async") end
  return { status = pick(TERMINAL), headers = h,
           body = chance(0.7) and M.body(M.error_doc()) or nil }
end

-- What ARM plausibly answers to req, for an operation of env.shape.
local function plausible(env, req)
  local poll = req.url:find("/fuzz/async/", 1, true)
  local loc = req.url:find("/fuzz/loc/", 1, true)
  local h, doc, status = M.base_headers(), nil, 200
  if poll then
    doc = M.status_doc(env)
    if chance(0.2) then h["azure-asyncoperation"] = M.url(env, "async") end
  elseif loc then
    status = pick{ 202, 202, 200, 201, 204 }
    doc = status ~= 202 and status ~= 204 and env.doc(env) or nil
    if chance(0.3) then h.location = M.url(env, "loc") end
  elseif req.method == "GET" then
    doc = env.doc(env)
  else
    status = pick(req.method == "DELETE" and { 200, 202, 204 } or { 200, 201, 202 })
    doc = status ~= 204 and env.doc(env) or nil
    if status == 202 or chance(0.4) then
      if chance(0.6) then h["azure-asyncoperation"] = M.url(env, "async") end
      if chance(0.5) then h.location = M.url(env, "loc") end
    end
  end
  return { status = status, headers = h, body = M.body(doc) }
end

function M.answer(env, req)
  if chance(0.04) then return M.transport() end
  local a = chance(0.1) and M.recorded() or plausible(env, req)
  if chance(0.2) then a.status = M.status() end
  if chance(0.3) then M.mutate_headers(a.headers, env) end
  if chance(0.1) then a.body = M.mutate_text(a.body) end
  if chance(0.05) then a.headers = nil end
  if chance(0.03) then M.misuse(a) end
  return a
end

return M
