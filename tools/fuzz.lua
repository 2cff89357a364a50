-- make fuzz: a bounded fuzz pass over op:feed(), run under the ASan+UBSan Lua host by
-- tools/fuzz.sh. Each case drives one operation (or a pager) through
-- op:next_request() / op:feed() with server answers from tools/fuzz_gen.lua, then
-- reads its result and everything hanging off it. Nothing is sent anywhere: the
-- endpoint is never contacted, and only feed() answers.
--
-- A finding is what must never happen on server data: a Lua error out of
-- next_request/feed/result/tostring, a result that is neither a value nor
-- (nil, acr.Error), a request whose URL is not on the endpoint's origin, a secret in a
-- tostring(), or an operation that does not end while every answer is an error.
-- ASan and UBSan findings abort the process; tools/fuzz.sh names the case.
--
-- Environment: FUZZ_SECONDS (60), FUZZ_SEED (1), FUZZ_CASES (no limit), FUZZ_CASE=N
-- (run case N alone and print its exchanges), FUZZ_STATE (a file that always holds the
-- case being run, for a crash).
local acr = require "acr"
local gen = require "fuzz_gen"
local have_system, system = pcall(require, "system")

local function env_number(name, default, integer)
  local s = os.getenv(name)
  if s == nil or s == "" then return default end
  local n = tonumber(s)
  if not n or (integer and math.type(n) ~= "integer") or n < 0 then
    io.stderr:write(("fuzz: %s=%s is not a %s\n"):format(name, s,
                    integer and "non-negative integer" or "non-negative number"))
    os.exit(2)
  end
  return n
end

local SEED = env_number("FUZZ_SEED", 1, true)
local SECONDS = env_number("FUZZ_SECONDS", 60)
local MAX_CASES = env_number("FUZZ_CASES", math.maxinteger, true)
local ONLY = env_number("FUZZ_CASE", nil, true)
local STATE = os.getenv("FUZZ_STATE")
local STEPS = 8     -- answers of any kind, at most, before the terminal ones
local TAIL = 64     -- terminal errors within which every operation must end
local TOKEN = "fuzz-bearer-secret"   -- never to appear in a tostring() or an error

local clock = have_system and system.monotime or os.time

local client = acr.client{
  subscription_id = "00000000-0000-0000-0000-000000000001", resource_group = "rg",
  registry = "fuzzregistry", credential = acr.credential.static(TOKEN),
  endpoint = gen.ENDPOINT, poll_interval = 0,
  retry = { max_retries = 3, base_delay = 0.01, max_delay = 60 },
}
local REG = client:registry_id()

---------------------------------------------------------------------------
-- the operations
---------------------------------------------------------------------------

local function doc_of(shape)
  if shape == "ScopeMap" then return gen.scope_map_doc end
  if shape == "Token" then return gen.token_doc end
  if shape == "credentials" then return gen.credentials_doc end
  return function(env)
    local r = math.random()
    if r < 0.3 then return nil end
    return r < 0.6 and gen.token_doc(env) or gen.status_doc(env)
  end
end

local function request_args()
  local method = ({ "GET", "PUT", "PATCH", "POST", "DELETE" })[math.random(5)]
  local fsv = ({ false, "azure-async-operation", "location", "original-uri" })[math.random(4)]
  return method, REG .. "/tokens/abcde",
         { lro = math.random() < 0.7, final_state_via = fsv or nil,
           body = method ~= "GET" and method ~= "DELETE" and { properties = {} } or nil }
end

local KINDS = {
  { name = "list_scope_maps", pager = function(c) return c:scope_maps() end, shape = "ScopeMap" },
  { name = "list_tokens", pager = function(c) return c:tokens() end, shape = "Token" },
  { name = "pages", shape = "item",   -- client:pages(): items handed out as plain values
    pager = function(c) return c:pages(REG .. "/tokens", { items = "value" }) end },
  { name = "get_scope_map", shape = "ScopeMap", args = { "abcde" } },
  { name = "create_scope_map", shape = "ScopeMap",
    args = { "abcde", { actions = { "repositories/a/content/read" }, description = "d" } } },
  { name = "update_scope_map", shape = "ScopeMap", args = { "abcde", { description = "d" } } },
  { name = "delete_scope_map", shape = "deleted", args = { "abcde" } },
  { name = "get_token", shape = "Token", args = { "my-token-1" } },
  { name = "create_token", shape = "Token",
    args = { "my-token-1", { scope_map = "mymap", status = "enabled" } } },
  { name = "update_token", shape = "Token", args = { "my-token-1", { status = "disabled" } } },
  { name = "delete_token", shape = "deleted", args = { "my-token-1" } },
  { name = "generate_credentials", shape = "credentials",
    args = { { token = "my-token-1", name = "password1", expiry = "2030-01-01T00:00:00Z" } } },
  { name = "enable_token", shape = "Token", args = { "my-token-1" } },
  { name = "disable_token", shape = "Token", args = { "my-token-1" } },
  { name = "request", shape = "raw", args = request_args },
}
for _, k in ipairs(KINDS) do
  k.stats = { cases = 0, feeds = 0, ok = 0, err = 0, misuse = 0 }
  local item = doc_of(k.shape)
  k.doc = k.pager and function(env) return gen.page_doc(env, item) end or item
end

---------------------------------------------------------------------------
-- findings
---------------------------------------------------------------------------

local findings, by_sig, total = {}, {}, 0

local function show(v, limit)
  limit = limit or 160
  if type(v) == "string" then
    local q = ("%q"):format(#v > limit and v:sub(1, limit) or v):gsub("\\\n", "\\n")
    return #v > limit and ("%s..(%d bytes)"):format(q, #v) or q
  end
  if v == gen.NULL then return "null" end
  if type(v) ~= "table" then   -- no addresses: the same case prints the same text
    return (type(v) == "function" or type(v) == "userdata") and type(v) or tostring(v)
  end
  local parts = {}
  for k, x in pairs(v) do parts[#parts + 1] = show(k, 40) .. "=" .. show(x, limit) end
  table.sort(parts)
  return "{" .. table.concat(parts, ", ") .. "}"
end

local function safe_tostring(v)
  local ok, s = pcall(tostring, v)
  return ok and s or ("(tostring raised: " .. show(s) .. ")")
end

local function format_trace(trace)
  local out, n = {}, 0
  for _, t in ipairs(trace) do
    if t[1] == ">" then
      n = n + 1
      out[#out + 1] = ("    %2d > %s %s"):format(n, tostring(t[2]), show(t[3], 300))
    else
      local a = t[2]
      out[#out + 1] = a.terr ~= nil
        and ("       < transport error %s %s"):format(show(a.terr), show(a.msg))
        or ("       < %s%s %s\n         body %s"):format(a.misuse and "(misuse) " or "",
                                                       show(a.status), show(a.headers, 120),
                                                       show(a.body, 300))
    end
  end
  return table.concat(out, "\n")
end

local function reproduce(f)
  return ("FUZZ_SEED=%d FUZZ_CASE=%d make fuzz"):format(SEED, f.case)
end

-- One line per distinct finding (its category and detail), however often it recurs.
local function finding(ctx, category, detail, extra)
  total = total + 1
  local sig = category .. ": " .. detail
  local f = by_sig[sig]
  if f then
    f.count = f.count + 1
    f.kinds[ctx.kind.name] = true
    return
  end
  f = { sig = sig, case = ctx.i, count = 1, kinds = { [ctx.kind.name] = true } }
  by_sig[sig], findings[#findings + 1] = f, f
  print(("FINDING %d [%s] %s\n  %s, case %d; reproduce: %s"):format(#findings, category, detail,
        ctx.kind.name, ctx.i, reproduce(f)))
  if extra then print("  " .. extra) end
  print("  exchanges so far:\n" .. format_trace(ctx.trace))
end

---------------------------------------------------------------------------
-- checks
---------------------------------------------------------------------------

-- Where a driver that reads the URL as written would send the bearer token: the
-- checks stay literal, as acr.resty's parser is, so a host the core accepted only
-- after normalising it (127.1, 0x7f000001, %31...) counts as another host.
local function url_problem(u)
  if type(u) ~= "string" then return "is a " .. type(u) end
  if u:find("[%s%c]") then return "holds spaces or control characters" end
  local scheme, rest = u:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then return "is not an absolute URL" end
  local authority = rest:match("^([^/?#]*)")
  if authority:find("[@\\]") then return "has user information or a backslash" end
  local host, port = authority:match("^([^:]+):?(%d*)$")
  if not host then return "has an authority that does not parse" end
  scheme, host = scheme:lower(), host:lower()
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  local o = gen.ORIGIN
  if scheme ~= o.scheme or host ~= o.host or port ~= o.port then
    if host:find("[^%w%.%-%%%[%]:]") then host = show(host, 60) end
    return ("goes to %s://%s:%s"):format(scheme, host, port)
  end
end

local function check_request(ctx, req)
  if type(req) ~= "table" then
    return finding(ctx, "bad-value", "next_request() returned a " .. type(req))
  end
  ctx.trace[#ctx.trace + 1] = { ">", req.method, req.url }
  local p = url_problem(req.url)
  if p then finding(ctx, "off-origin", "next_request() URL " .. p, "url " .. show(req.url, 300)) end
  if type(req.method) ~= "string" or type(req.headers) ~= "table" or
     (req.body ~= nil and type(req.body) ~= "string") or type(req.timeout) ~= "number" then
    finding(ctx, "bad-value", "next_request() fields of the wrong type", show(req))
  elseif req.headers.Authorization ~= "Bearer " .. TOKEN then
    finding(ctx, "bad-value", "next_request() without the credential's Authorization")
  end
end

local function next_request(ctx, op)
  local ok, req = pcall(op.next_request, op)
  if not ok then
    ctx.abort = true
    return finding(ctx, "raised", "next_request() raised", safe_tostring(req))
  end
  local done = op:done()
  if req == nil then
    if not done then finding(ctx, "stuck", "next_request() gave nil but done() is false") end
    return nil
  end
  if done then finding(ctx, "stuck", "next_request() gave a request for a finished operation") end
  check_request(ctx, req)
  local d = op:delay()
  if type(d) ~= "number" or d ~= d or d < 0 then
    finding(ctx, "bad-value", "delay() is not a number of seconds", show(d))
  end
  return req
end

-- A misuse answer (a status that is no integer, headers that are no table, ...) may
-- be refused with an argument error, as every misuse is; nothing else may raise.
local function feed(ctx, op, a)
  ctx.kind.stats.feeds = ctx.kind.stats.feeds + 1
  ctx.trace[#ctx.trace + 1] = { "<", a }
  local ok, st = pcall(op.feed, op, a.status, a.headers, a.body, a.terr, a.msg)
  if ok then
    if type(st) ~= "string" then finding(ctx, "bad-value", "feed() returned a " .. type(st)) end
    return
  end
  if a.misuse and type(st) == "string" and st:find("^bad argument #%d+ to '[^']*'") then
    ctx.kind.stats.misuse = ctx.kind.stats.misuse + 1
    return
  end
  ctx.abort = true
  finding(ctx, "raised", "feed() raised", safe_tostring(st))
end

-- Every value reachable from v turns into a string without raising.
local function walk(v, depth, seen)
  tostring(v)
  if type(v) ~= "table" or depth > 80 or seen[v] then return end
  seen[v] = true
  for k, x in pairs(v) do
    walk(k, depth + 1, seen)
    walk(x, depth + 1, seen)
  end
end

local FIELDS = {
  ScopeMap = { "id", "name", "type", "description", "actions", "creation_date",
               "provisioning_state", "scope_map_type", "no_such_field" },
  Token = { "id", "name", "type", "status", "scope_map_id", "object_id", "creation_date",
            "provisioning_state", "credentials", "no_such_field" },
}

local function check_resource(ctx, v, shape)
  local s = tostring(v)
  if not s:find("^acr%." .. shape .. "%(") then
    return finding(ctx, "bad-result", "a " .. shape .. " result is something else", show(s))
  end
  for _, f in ipairs(FIELDS[shape]) do walk(v[f], 0, {}) end
  walk(v:to_table(), 0, {})
  if not (v == v) then finding(ctx, "bad-result", shape .. " is not equal to itself") end
end

local function check_value(ctx, v, shape)
  local ok, err = pcall(function()
    if shape == "ScopeMap" or shape == "Token" then return check_resource(ctx, v, shape) end
    local s = tostring(v)
    if shape == "deleted" and v ~= true then
      finding(ctx, "bad-result", "a delete's result is not true", show(v))
    elseif shape == "credentials" then
      if type(v) ~= "table" or not s:find("^acr%.GeneratedCredentials%(") then
        finding(ctx, "bad-result", "generate_credentials' result is not credentials", show(s))
      elseif s:find(gen.SECRET, 1, true) then
        finding(ctx, "secret", "tostring(credentials) shows a password", s)
      end
    elseif shape == "raw" and (type(v) ~= "table" or math.type(v.status) ~= "integer") then
      finding(ctx, "bad-result", "client:request's result is not {status=, headers=, body=}", show(v))
    end
    walk(v, 0, {})
  end)
  if not ok then finding(ctx, "raised", "reading a " .. shape .. " result raised", safe_tostring(err)) end
end

local function check_error(ctx, err)
  local ok, e = pcall(function()
    local s = tostring(err)
    if type(err.code) ~= "string" or type(err.message) ~= "string" or
       not s:find("^acr%.Error: ") then
      finding(ctx, "bad-result", "an acr.Error without code, message or its tostring", show(err))
    end
    if s:find(TOKEN, 1, true) or err.message:find(TOKEN, 1, true) then
      finding(ctx, "secret", "an acr.Error shows the bearer token", s)
    end
    walk(err, 0, {})
  end)
  if not ok then finding(ctx, "raised", "reading an acr.Error raised", safe_tostring(e)) end
end

-- (value) or (nil, acr.Error), nothing else; and a finished operation stays finished.
local function check_outcome(ctx, r, shape, what)
  if not r[1] then return finding(ctx, "raised", what .. " raised", safe_tostring(r[2])) end
  local v, err = r[2], r[3]
  if v == nil then
    if not acr.is_error(err) then
      return finding(ctx, "bad-result", what .. " gave nil without an acr.Error", show(err))
    end
    ctx.kind.stats.err = ctx.kind.stats.err + 1
    return check_error(ctx, err)
  end
  if err ~= nil or acr.is_error(v) then
    return finding(ctx, "bad-result", what .. " gave a value with an error", show(err))
  end
  ctx.kind.stats.ok = ctx.kind.stats.ok + 1
  check_value(ctx, v, shape)
end

local function check_finished(ctx, op)
  local ok, e = pcall(function()
    local s = tostring(op) .. op:status() .. op:request_id()
    if s:find(TOKEN, 1, true) then finding(ctx, "secret", "tostring(op) shows the token", s) end
    if op:next_request() ~= nil or op:delay() ~= 0 then
      finding(ctx, "stuck", "a finished operation asks for another request")
    end
  end)
  if not ok then finding(ctx, "raised", "a finished operation's methods raised", safe_tostring(e)) end
end

---------------------------------------------------------------------------
-- cases
---------------------------------------------------------------------------

-- Up to `steps` answers of any kind, then terminal errors until the operation ends.
local function drive(ctx, op, steps)
  for n = 1, steps + TAIL do
    local req = next_request(ctx, op)
    if not req or ctx.abort then return end
    feed(ctx, op, n <= steps and gen.answer(ctx.env, req) or gen.terminal(ctx.env))
    if ctx.abort then return end
  end
  if not op:done() then
    finding(ctx, "endless", ("the operation is still running after %d terminal errors"):format(TAIL))
  end
end

local function finish(ctx, op, shape)
  if ctx.abort or not op:done() then return false end
  check_outcome(ctx, table.pack(pcall(op.result, op)), shape, "result()")
  check_finished(ctx, op)
  return true
end

local function run_operation(ctx, kind)
  local args = type(kind.args) == "function" and { kind.args() } or kind.args
  local op = client:prepare(kind.name, table.unpack(args))
  drive(ctx, op, math.random(1, STEPS))
  finish(ctx, op, kind.shape)
end

-- pager:take() of a finished page operation: a list of objects, or nil, acr.Error.
local function take(ctx, pager, op, shape)
  local r = table.pack(pcall(pager.take, pager, op))
  if r[1] and r[2] ~= nil then
    if type(r[2]) ~= "table" then
      return finding(ctx, "bad-result", "pager:take() gave a " .. type(r[2]))
    end
    for _, item in ipairs(r[2]) do check_value(ctx, item, shape) end
    ctx.kind.stats.ok = ctx.kind.stats.ok + 1
    return true
  end
  check_outcome(ctx, r, shape, "pager:take()")
end

-- A pager that is done answers next_page() and its iterator without a request.
local function check_pager_end(ctx, pager)
  local ok, e = pcall(function()
    if not tostring(pager):find(", done)", 1, true) then return end
    local items, err = pager:next_page()
    if items ~= nil or err ~= nil or pager() ~= nil then
      finding(ctx, "bad-result", "a finished pager still gives pages", show(items) .. show(err))
    end
  end)
  if not ok then finding(ctx, "raised", "a finished pager raised", safe_tostring(e)) end
end

local function run_pager(ctx, kind)
  local pager = kind.pager(client)
  for _ = 1, math.random(1, 4) do
    local ok, op = pcall(pager.next_operation, pager)
    if not ok then return finding(ctx, "raised", "pager:next_operation() raised", safe_tostring(op)) end
    if op == nil then break end
    drive(ctx, op, math.random(1, 3))
    if not finish(ctx, op, "page") or not take(ctx, pager, op, kind.shape) then break end
  end
  check_pager_end(ctx, pager)
end

local function run_case(i)
  math.randomseed(SEED, i)
  local kind = KINDS[(i - 1) % #KINDS + 1]
  local ctx = { i = i, kind = kind, trace = {}, env = { reg = REG, doc = kind.doc } }
  kind.stats.cases = kind.stats.cases + 1
  local ok, err = xpcall(kind.pager and run_pager or run_operation, debug.traceback, ctx, kind)
  if not ok then finding(ctx, "harness", "the fuzz driver itself failed", tostring(err)) end
  return ctx
end

---------------------------------------------------------------------------
-- main
---------------------------------------------------------------------------

local function summary(cases, elapsed)
  print(("fuzz: seed %d, %d cases in %.1f s"):format(SEED, cases, elapsed))
  print(("  %-22s %8s %8s %8s %8s %8s"):format("operation", "cases", "feeds", "value",
        "error", "misuse"))
  for _, k in ipairs(KINDS) do
    local s = k.stats
    print(("  %-22s %8d %8d %8d %8d %8d"):format(k.name, s.cases, s.feeds, s.ok, s.err, s.misuse))
  end
  for _, f in ipairs(findings) do
    local kinds = {}
    for name in pairs(f.kinds) do kinds[#kinds + 1] = name end
    table.sort(kinds)
    print(("  %dx %s\n     first in case %d (%s); seen in %s"):format(f.count, f.sig, f.case,
          reproduce(f), table.concat(kinds, " ")))
  end
  print(("fuzz: %d findings (%d distinct)"):format(total, #findings))
end

local function main()
  local n = gen.load_recordings()
  if ONLY then
    local ctx = run_case(ONLY)
    print(("case %d (%s), seed %d:\n%s"):format(ONLY, ctx.kind.name, SEED, format_trace(ctx.trace)))
    print(("fuzz: %d findings"):format(total))
    return total == 0
  end
  print(("fuzz: seed %d, %g s, %d recorded answers"):format(SEED, SECONDS, n))
  local state = STATE and assert(io.open(STATE, "w"))
  local t0, i = clock(), 0
  while i < MAX_CASES and (i % 32 ~= 0 or clock() - t0 < SECONDS) do
    i = i + 1
    if state then
      state:seek("set")
      state:write(("%d %12d\n"):format(SEED, i))
      state:flush()
    end
    run_case(i)
  end
  if state then state:close() end
  if client:connections() ~= 0 then
    total = total + 1
    print("FINDING: the client opened a connection, though only feed() answered")
  end
  summary(i, clock() - t0)
  return total == 0
end

os.exit(main() and 0 or 1, true)
