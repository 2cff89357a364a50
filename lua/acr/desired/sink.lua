-- acr.desired.sink — where a rotation hands a new password, and is told when one is
-- about to go: a directory of files, a program, or a Lua function.
--
--   local sink = require "acr.desired.sink"
--   s, err = sink.dir(path, opts?)       -- <path>/<registry>/<token>.<slot>.json, 0600
--   s, err = sink.exec(argv, opts?)      -- the JSON, one line, on stdin; opts.timeout
--                                        -- (seconds, default 30)
--   s, err = sink.func(f, opts?)         -- f(secret) -> true | nil, message
--   ok, err = s:deliver(secret)
--   ok, err = s:withdraw(ref)            -- before a delivered password is removed or
--                                        -- overwritten
--   s:close()                            -- the locks let go, the ledger it opened
--                                        -- closed; idempotent (also __close)
--   s.ledger                             -- its ledger (acr.desired.ledger)
--   s.kind, s.name                       -- "dir" | "exec" | "func"; "secrets-dir PATH", …
--
-- secret = { action = "deliver"?, subscription =, resource_group =, registry =,
--   login_server =, token =, username =, password =, slot = "password1" | "password2",
--   creation_time = RFC 3339, expiry = RFC 3339 or nil }; ref is the same without
-- password (action "withdraw"; creation_time may be nil).
--
-- The ledger: opts.ledger (a path, or a ledger) or, by default, <path>/.acr-ledger.json
-- for a directory and one in memory for the others. A ledger opened from a path is
-- locked for one run (acr.desired.ledger): when another run holds it, the sink is
-- nil, err. A directory is also one run's at a time (<path>/.acr-sink.lock, whatever
-- the ledger), so that the files a run killed half-way through a write left there
-- (.acr-tmp-*, holding a password) can be removed: each registry's subdirectory is swept
-- of them before the sink's first write to it. close() closes the ledger only when the
-- sink opened it (a ledger given as an object stays its owner's).
--
-- err is one line that never holds the password: a program's or a function's own words
-- are cut short, cleaned of control characters, and have the password taken out (as it
-- is, JSON-escaped, and in base64 as `docker login` and kubectl write it, alone or as
-- username:password), since a careless one may echo what it was given. A program's
-- stdout is never kept (it is read, so that the program cannot block, and wiped).
-- Misuse raises (acr.check's shape), as does a call on a closed sink.
local check = require "acr.check"
local json = require "acr.json"
local printable = require("acr.text").printable
local ledger = require "acr.desired.ledger"

local _M = { _VERSION = "0.1.0" }

local DEFAULT_TIMEOUT = 30
local MAX_TIMEOUT = 604800   -- as the C core's (src/luax.h)
local EXCERPT = 200          -- bytes of a program's or a function's words kept in err
local REDACTED = "[redacted]"

local Sink = { __name = "acr.desired.Sink" }
Sink.__index = Sink

local function sys() return require("acr")._sys end

---------------------------------------------------------------------------
-- the secret and its JSON
---------------------------------------------------------------------------

-- The document's members, in the order it is written.
local FIELDS = { "action", "subscription", "resource_group", "registry", "login_server",
  "token", "username", "password", "slot", "creation_time", "expiry" }
local KNOWN = {}
for _, k in ipairs(FIELDS) do KNOWN[k] = true end

-- Names that become part of a file name are held to ARM's rules (the desired-state
-- file's checks apply them too): never a '/', a '..' or a NUL.
local NAME_RULES = {
  registry = { "^%w+$", "letters and digits" },
  token = { "^[%w%-]+$", "letters, digits and '-'" },
}

local function field_error(fname, key, what)
  check.argerror(fname, 2, "field '" .. key .. "' " .. what, 3)
end

-- Checks the secret (deliver) or the ref (withdraw) at argument 2 of fname; returns
-- a copy with action set, which is what goes out.
local function checked(fname, t, action)
  if type(t) ~= "table" then check.typeerror(fname, 2, "table", t, 2) end
  for k in pairs(t) do
    if not KNOWN[k] then check.argerror(fname, 2, "unknown field '" .. tostring(k) .. "'", 2) end
  end
  if t.action ~= nil and t.action ~= action then
    field_error(fname, "action", "must be '" .. action .. "' here, got " .. check.type_of(t.action))
  end
  local out = {}
  for _, k in ipairs(FIELDS) do
    local v = t[k]
    local optional = k == "expiry" or k == "action" or (action == "withdraw" and k == "creation_time")
    if k == "password" and action == "withdraw" then
      if v ~= nil then field_error(fname, k, "must not be given to withdraw") end
    elseif v ~= nil or not optional then
      if type(v) ~= "string" or v == "" or v:find("%z") then
        field_error(fname, k, "must be a non-empty string, got " .. check.type_of(v))
      end
      out[k] = v
    end
  end
  out.action = action
  for k, rule in pairs(NAME_RULES) do
    if not out[k]:find(rule[1]) or #out[k] > 50 then field_error(fname, k, "must be 1 to 50 " .. rule[2]) end
  end
  if out.slot ~= "password1" and out.slot ~= "password2" then
    field_error(fname, "slot", "must be 'password1' or 'password2'")
  end
  return out
end

-- The JSON document of a checked secret or ref (expiry null when it never expires):
-- indented for a file, one line for a program (a shell script can `read -r` it).
local function document(s, without, indent)
  local t, keys = {}, {}
  for _, k in ipairs(FIELDS) do
    if k ~= without then
      local v = s[k]
      if v == nil and (k == "expiry" or k == "creation_time") then v = json.null end
      if v ~= nil then
        t[k] = v
        keys[#keys + 1] = k
      end
    end
  end
  return json.encode(json.object(t, keys), { indent = indent }) .. "\n"
end

---------------------------------------------------------------------------
-- what others say, made safe to show
---------------------------------------------------------------------------

local function replace_plain(text, what, with)
  local out, pos = {}, 1
  while true do
    local i, j = text:find(what, pos, true)
    if not i then break end
    out[#out + 1] = text:sub(pos, i - 1)
    out[#out + 1] = with
    pos = j + 1
  end
  out[#out + 1] = text:sub(pos)
  return table.concat(out)
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

-- Standard base64 of s, padded (no bit operations: Lua 5.4 and LuaJIT alike).
local function base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local d = { math.floor(n / 262144), math.floor(n / 4096) % 64, math.floor(n / 64) % 64, n % 64 }
    for k = 1, 4 do
      out[#out + 1] = (k == 3 and not b or k == 4 and not c) and "=" or B64:sub(d[k] + 1, d[k] + 1)
    end
  end
  return table.concat(out)
end

local URLSAFE = { ["+"] = "-", ["/"] = "_" }

-- The characters of base64 of any text that holds x that depend on x alone, for each
-- of the three places x can start within a base64 group (8 or more characters).
local function cores(x)
  local out, n = {}, #x
  for k = 0, 2 do
    -- characters j (0-based) whose bits [6j, 6j + 6) are inside x's [8k, 8(k + n))
    local first, last = math.ceil(8 * k / 6), math.floor(8 * (k + n) / 6) - 1
    if last - first + 1 >= 8 then
      out[#out + 1] = base64(("\0"):rep(k) .. x .. "\0\0"):sub(first + 1, last + 1)
    end
  end
  return out
end

-- Every form of the password a program or a function may write, longest first: as it
-- is; JSON-escaped (by us, and by writers that also escape "/" as "\/"); base64 of it
-- and of username:password (what `docker login` and kubectl write), standard and
-- URL-safe, padded and not; and what base64 of a longer text that holds the password
-- or either base64 has of them (a Docker config's "auth", a whole Docker config in a
-- Kubernetes secret).
local function forms_of(password, username)
  local forms, seen = {}, {}
  local function add(f)
    if #f >= 4 and not seen[f] then
      seen[f] = true
      forms[#forms + 1] = f
    end
  end
  local function add_b64(b)
    for _, f in ipairs { b, (b:gsub("[+/]", URLSAFE)) } do
      add(f)
      add((f:gsub("=+$", "")))
    end
    add((b:gsub("/", "\\/")))
  end
  local quoted = json.quote(password):sub(2, -2)
  add(password)
  add(quoted)
  add((quoted:gsub("/", "\\/")))
  local inner = { password, base64(password) }
  if username and username ~= "" then inner[3] = base64(username .. ":" .. password) end
  for i = 2, #inner do add_b64(inner[i]) end
  for _, x in ipairs(inner) do
    for _, c in ipairs(cores(x)) do add_b64(c) end
  end
  table.sort(forms, function(x, y) return #x > #y or (#x == #y and x < y) end)
  return forms
end

-- line without a start of one of forms at its end, nor an end of one at its start,
-- nor a middle of one as the whole line (4 characters or more): where a capped output
-- cut it, or line breaks wrapped it (base64(1) does, at 76 columns).
-- grams: every 4 characters of the forms, so that most lines cost two look-ups.
local function redact_edges(line, forms, grams)
  if #line < 4 then return line end
  local tail, head = grams[line:sub(-4)], grams[line:sub(1, 4)]
  if not (tail or head) then return line end
  for _, f in ipairs(forms) do
    if tail and head and f:find(line, 1, true) then return REDACTED end
  end
  for _, f in ipairs(forms) do
    for k = tail and math.min(#f - 1, #line) or 0, 4, -1 do
      if line:sub(-k) == f:sub(1, k) then
        line = line:sub(1, -k - 1) .. REDACTED
        break
      end
    end
    for k = head and math.min(#f - 1, #line) or 0, 4, -1 do
      if line:sub(1, k) == f:sub(-k) then
        line = REDACTED .. line:sub(k + 1)
        break
      end
    end
  end
  return line
end

-- text without the password in any of its forms (forms_of), whole or cut at the end of
-- the text or of a line.
local function redact(text, password, username)
  if not password or password == "" then return text end
  local forms, grams = forms_of(password, username), {}
  for _, f in ipairs(forms) do
    text = replace_plain(text, f, REDACTED)
    for i = 1, #f - 3 do grams[f:sub(i, i + 3)] = true end
  end
  local lines = {}
  for line, nl in text:gmatch("([^\n]*)(\n?)") do
    if line == "" and nl == "" then break end
    lines[#lines + 1] = redact_edges(line, forms, grams) .. nl
  end
  return table.concat(lines)
end

-- One short line: control characters (C0, DEL and C1) made visible as '?', at most
-- EXCERPT bytes (not ending inside a UTF-8 character).
local function one_line(text)
  text = printable((text:gsub("\t", " ")))
  text = text:gsub("^%s+", ""):gsub("%s+$", "")
  if #text > EXCERPT then
    text = text:sub(1, EXCERPT):gsub("[\192-\255][\128-\191]*$", "") .. "…"
  end
  return text
end

-- The last line of a program's stderr that says something, made safe.
local function excerpt(errout, password, username)
  local last
  for line in redact(errout or "", password, username):gmatch("[^\n]+") do
    if line:find("%S") then last = line end
  end
  return last and one_line(last) or nil
end

---------------------------------------------------------------------------
-- sinks
---------------------------------------------------------------------------

-- impl: deliver(s), withdraw(r) and, optional, close(). owned: the sink opened the_ledger
-- (so close() closes it).
local function new_sink(kind, name, impl, the_ledger, owned)
  return setmetatable({ kind = kind, name = name, impl = impl, ledger = the_ledger,
                        _owns_ledger = owned }, Sink)
end

-- The ledger option of fname checked: misuse raises (before anything is opened).
local function check_ledger_opt(fname, opts)
  local l = opts.ledger
  if l == nil or type(l) == "string" or (type(l) == "table" and check.type_of(l) == "acr.desired.Ledger") then
    return
  end
  check.opterror(fname, 2, "ledger", "must be a path or an acr.desired.Ledger, got " .. check.type_of(l), 3)
end

-- The ledger of opts (checked) or dflt(), and whether the sink opened it (so owns it);
-- nil, nil, err when a path cannot be opened (or another run holds it).
local function opt_ledger(opts, dflt)
  local l, err = opts.ledger, nil
  if type(l) == "table" then return l, false end
  if l == nil then l, err = dflt() else l, err = ledger.open(l) end
  return l, l ~= nil, err
end

local function check_open(fname, self)
  if getmetatable(self) ~= Sink then check.typeerror(fname, 1, "acr.desired.Sink", self, 2) end
  if self.closed then check.argerror(fname, 1, self.name .. " is closed", 2) end
end

-- syntax: ok, err = s:deliver(secret)   context: blocking (dir, exec)
function Sink:deliver(secret)
  check_open("deliver", self)
  local s = checked("deliver", secret, "deliver")
  return self.impl.deliver(s)
end

-- syntax: ok, err = s:withdraw(ref)   context: blocking (dir, exec)
function Sink:withdraw(ref)
  check_open("withdraw", self)
  local r = checked("withdraw", ref, "withdraw")
  return self.impl.withdraw(r)
end

-- syntax: s:close()   -- idempotent
-- A directory's lock let go, and the ledger closed when the sink opened it (a ledger
-- given as an object is left open). deliver and withdraw raise from then on.
function Sink:close()
  if getmetatable(self) ~= Sink then check.typeerror("close", 1, "acr.desired.Sink", self) end
  if self.closed then return end
  self.closed = true
  if self.impl.close then self.impl.close() end
  if self._owns_ledger then self.ledger:close() end
end
Sink.__close = Sink.close

-- The directory path made and locked for this run: the lock, or nil, err.
local function lock_dir(path)
  local ok, err = sys().mkdir_private(path)
  if not ok then return nil, err end
  return ledger._lock_for_run(path .. "/.acr-sink.lock", path)
end

-- syntax: s, err = sink.dir(path, opts?)   context: blocking (it never waits for a lock)
-- Registry and token names are written in lower case (ARM compares them so), so one
-- token never has two files. nil, err when the directory or the ledger cannot be made
-- or opened, or another run holds either.
function _M.dir(path, opts)
  local fname = "acr.desired.sink.dir"
  if type(path) ~= "string" or path == "" or path:find("%z") then
    check.typeerror(fname, 1, "path (non-empty string)", path)
  end
  opts = check.options(fname, 2, opts, { ledger = true })
  check_ledger_opt(fname, opts)
  path = path:gsub("(.)/+$", "%1")
  local name = "secrets-dir " .. path
  local function file_of(s)
    return path .. "/" .. s.registry:lower(), s.token:lower() .. "." .. s.slot .. ".json"
  end
  -- A registry's directory is swept once, before the first write: what is there of
  -- ours is what a killed run left (the lock keeps every other run out).
  local swept = {}
  local function sweep(dir)
    if swept[dir] then return true end
    local n, err = sys().sweep_tmp(dir)
    if not n then return nil, err end
    swept[dir] = true
    return true
  end
  local impl = {}
  function impl.deliver(s)
    local dir, file = file_of(s)
    local ok, err = sys().mkdir_private(dir)
    if ok then ok, err = sweep(dir) end
    if ok then ok, err = sys().write_private(dir .. "/" .. file, document(s, "action", 2)) end
    if not ok then return nil, name .. ": " .. err end
    return true
  end
  function impl.withdraw(r)
    local dir, file = file_of(r)
    local ok, err = sweep(dir)
    if ok then ok, err = sys().remove(dir .. "/" .. file) end
    if not ok then return nil, name .. ": " .. err end
    return true
  end
  local l, owned, err = opt_ledger(opts, function() return ledger.open(path .. "/.acr-ledger.json") end)
  if not l then return nil, name .. ": " .. err end
  local lock
  lock, err = lock_dir(path)
  if not lock then
    if owned then l:close() end
    return nil, name .. ": " .. err
  end
  function impl.close() lock:unlock() end
  return new_sink("dir", name, impl, l, owned)
end

-- Why a run of the program did not deliver, in one line.
local function exec_failure(name, timeout, ok, code, errout, kind, s)
  local why
  if ok then
    why = "exited with status " .. tostring(code)
  elseif kind == "timeout" then
    why = ("did not finish within %g s and was killed"):format(timeout)
  elseif kind == "not_found" then
    why = "not found, or not executable"
  else
    why = tostring(code):gsub("^run .-: ", "")
  end
  local said = excerpt(errout, s.password, s.username)
  return name .. ": " .. why .. (said and (" (stderr: " .. said .. ")") or "")
end

-- syntax: s, err = sink.exec(argv, opts?)   argv: { program, args… }, run without a shell
-- The document goes to the program's stdin; exit status 0 means done, anything else
-- (or the timeout, which kills it) means not done. Its stdout is read and wiped, never
-- kept; the last line of its stderr, cleaned, is in err. nil, err only when
-- opts.ledger is a path that cannot be opened.
function _M.exec(argv, opts)
  local fname = "acr.desired.sink.exec"
  if type(argv) ~= "table" or #argv == 0 then
    check.typeerror(fname, 1, "non-empty list of strings", argv)
  end
  local args = {}
  for i = 1, #argv do
    local a = argv[i]
    if type(a) ~= "string" or a:find("%z") or (i == 1 and a == "") then
      check.argerror(fname, 1, ("item %d must be a %sstring, got %s"):format(i,
        i == 1 and "non-empty " or "", check.type_of(a)))
    end
    args[i] = a
  end
  opts = check.options(fname, 2, opts, { timeout = "number", ledger = true })
  check_ledger_opt(fname, opts)
  local timeout = opts.timeout or DEFAULT_TIMEOUT
  if not (timeout > 0 and timeout <= MAX_TIMEOUT) then
    check.opterror(fname, 2, "timeout", "must be > 0 and at most " .. MAX_TIMEOUT .. " seconds")
  end
  local name = "secrets-exec " .. args[1]
  local function run(s)
    local ok, code, _, errout, kind = sys().run(args, { stdin = document(s), timeout = timeout,
                                                        discard_stdout = true })
    if ok and code == 0 then return true end
    return nil, exec_failure(name, timeout, ok, code, errout, kind, s)
  end
  local l, owned, err = opt_ledger(opts, ledger.memory)
  if not l then return nil, name .. ": " .. err end
  return new_sink("exec", name, { deliver = run, withdraw = run }, l, owned)
end

-- syntax: s, err = sink.func(f, opts?)   f(secret) -> true | nil, message
-- f gets a copy of the secret (or ref); only true means delivered. An error f raises
-- is caught and reported as a failure. nil, err only when opts.ledger is a path that
-- cannot be opened.
function _M.func(f, opts)
  local fname = "acr.desired.sink.func"
  if type(f) ~= "function" then check.typeerror(fname, 1, "function", f) end
  opts = check.options(fname, 2, opts, { ledger = true })
  check_ledger_opt(fname, opts)
  local name = "secrets function"
  local function call(s)
    local arg = {}
    for k, v in pairs(s) do arg[k] = v end
    local ok, r1, r2 = pcall(f, arg)
    if ok and r1 == true then return true end
    local said
    if not ok then said = "raised: " .. tostring(r1)
    elseif r1 == nil or r1 == false then said = r2 ~= nil and tostring(r2) or "gave no reason"
    else said = "returned " .. check.type_of(r1) .. ", not true" end
    return nil, name .. ": " .. one_line(redact(said, s.password, s.username))
  end
  local l, owned, err = opt_ledger(opts, ledger.memory)
  if not l then return nil, name .. ": " .. err end
  return new_sink("func", name, { deliver = call, withdraw = call }, l, owned)
end

-- For the specs and the CLI's messages: the same cleaning as the sinks' errors.
_M.redact = redact
_M.one_line = one_line

return _M
