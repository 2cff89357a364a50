-- acr.cli — the `acr` command line: scope maps and tokens of one registry, after
-- `az acr scope-map` and `az acr token`. bin/acr is a launcher for main().
--
-- syntax: code = require("acr.cli").main(argv)
-- context: command line (blocking); returns the exit status:
--   0 success, 1 the service (or the transport) failed, 2 usage, 3 authentication.
--
-- Works on Lua 5.4 and LuaJIT. Nothing here keeps a secret: generated passwords go
-- to stdout once, in the output; credentials come from the environment only.

local acr = require "acr"

local _M = { _VERSION = acr._VERSION }
_M.doc = "docs/CLI.md"   -- named by acr -h; bin/acr sets the installed copy's path

local PROG = "acr"
local EXIT_OK, EXIT_SERVICE, EXIT_USAGE, EXIT_AUTH = 0, 1, 2, 3

local REPO_ACTIONS = { "content/read", "content/write", "content/delete", "metadata/read",
                       "metadata/write" }
local GATEWAY_ACTIONS = { "config/read", "config/write", "message/read", "message/write" }

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end
local REPO_ACTION_SET, GATEWAY_ACTION_SET = set_of(REPO_ACTIONS), set_of(GATEWAY_ACTIONS)

---------------------------------------------------------------------------
-- JSON output: indented, keys sorted, "/" not escaped. Lua cannot tell an empty
-- array from an empty object, so the members ARM defines as arrays are written
-- as [] when empty.
---------------------------------------------------------------------------

local ARRAY_KEYS = set_of { "actions", "passwords", "certificates", "value", "details" }

local ESCAPES = { ['"'] = '\\"', ["\\"] = "\\\\", ["\b"] = "\\b", ["\f"] = "\\f",
                  ["\n"] = "\\n", ["\r"] = "\\r", ["\t"] = "\\t" }

local function json_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function is_array(t)
  local n = #t
  if n == 0 then return false end
  local count = 0
  for _ in pairs(t) do count = count + 1 end
  return count == n
end

local function json_encode(v, indent, as_array)
  indent = indent or ""
  local tv = type(v)
  if tv == "string" then return json_string(v)
  elseif tv == "number" then
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    if v == math.floor(v) and v > -2^53 and v < 2^53 then return ("%d"):format(v) end
    return ("%.17g"):format(v)
  elseif tv == "boolean" then return tostring(v)
  elseif tv ~= "table" then return "null" end
  local inner = indent .. "  "
  local parts = {}
  if next(v) == nil then return as_array and "[]" or "{}" end
  if is_array(v) then
    for i = 1, #v do parts[i] = inner .. json_encode(v[i], inner) end
    return "[\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "]"
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = tostring(k) end
  table.sort(keys)
  for i, k in ipairs(keys) do
    local val = v[k]
    if val == nil then val = v[tonumber(k)] end
    parts[i] = inner .. json_string(k) .. ": " .. json_encode(val, inner, ARRAY_KEYS[k])
  end
  return "{\n" .. table.concat(parts, ",\n") .. "\n" .. indent .. "}"
end
_M.json_encode = function(v, as_array) return json_encode(v, "", as_array) end

---------------------------------------------------------------------------
-- errors
---------------------------------------------------------------------------

-- A usage error travels as a table through error() up to main().
local UsageError = {}
UsageError.__index = UsageError

local function usage_error(msg, cmd)
  error(setmetatable({ message = msg, cmd = cmd }, UsageError), 0)
end

-- A failure that is not an acr.Error (a precondition the CLI checks itself).
local function cli_failure(msg)
  error(setmetatable({ message = msg, cli = true }, UsageError), 0)
end

-- The module raises on misuse ("bad argument #2 to '?' (token name 'x' must be …)"):
-- keep the part in brackets, which names the problem.
local function misuse_message(e)
  local s = tostring(e)
  local inner = s:match("^bad argument #%d+ to '[^']*' %((.*)%)$")
  return inner or s:gsub("^[^:]*:%d+: ", "")
end

-- Calls an acr function (they return at most value, err); a raised Lua error
-- (misuse) becomes a usage error.
local function guarded(f, ...)
  local ok, a, b = pcall(f, ...)
  if not ok then
    if getmetatable(a) == UsageError or acr.is_error(a) then error(a, 0) end
    usage_error(misuse_message(a))
  end
  return a, b
end

-- Getting a token failed, however (a refusal, or a token endpoint out of reach): exit 3.
local function is_auth_error(err)
  return err.during == "token" or err.code == "AuthenticationFailed" or err.status == 401
    or err.status == 403
end

-- The service's words reach a terminal: control characters (C0, DEL, C1 as UTF-8)
-- become spaces, so no escape sequence in a message can act on the terminal.
local function printable(s)
  return (tostring(s):gsub("%c", " "):gsub("\194[\128-\159]", " "))
end

local function report_error(err)
  local lines = { ("ERROR: (%s) %s"):format(printable(err.code), printable(err.message)) }
  lines[#lines + 1] = "Code: " .. printable(err.code)
  if err.status then lines[#lines + 1] = "Status: " .. printable(err.status) end
  if err.target then lines[#lines + 1] = "Target: " .. printable(err.target) end
  if err.request_id then lines[#lines + 1] = "Request id: " .. printable(err.request_id) end
  if err.correlation_id then lines[#lines + 1] = "Correlation id: " .. printable(err.correlation_id) end
  if err.client_request_id then
    lines[#lines + 1] = "Client request id: " .. printable(err.client_request_id)
  end
  io.stderr:write(table.concat(lines, "\n"), "\n")
  return is_auth_error(err) and EXIT_AUTH or EXIT_SERVICE
end

---------------------------------------------------------------------------
-- terminals
---------------------------------------------------------------------------

local function sh_true(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

-- fd 0 or 2: lua-system when it is there (not a dependency), else test(1).
local function isatty(fd)
  local ok, system = pcall(require, "system")
  if ok and type(system) == "table" and system.isatty then
    local f = fd == 0 and io.stdin or io.stderr
    local ok2, r = pcall(system.isatty, f)
    if ok2 then return r == true end
  end
  return sh_true("test -t " .. fd)
end

---------------------------------------------------------------------------
-- help
---------------------------------------------------------------------------

local COMMON_HELP = [[
Connection (every command):
  -r, --registry NAME        the registry (env ACR_REGISTRY)
  -g, --resource-group RG    its resource group (env ACR_RESOURCE_GROUP)
      --subscription ID      its subscription (env AZURE_SUBSCRIPTION_ID)
      --cloud NAME           AzureCloud (default), AzureChinaCloud, AzureUSGovernment
      --endpoint URL         ARM endpoint instead of the cloud's (env ACR_ENDPOINT)
      --ca-file FILE         CA bundle for https (env REQUESTS_CA_BUNDLE)
  -o, --output FORMAT        json (default), table, tsv, none
      --verbose              one line per HTTP exchange on stderr (never a secret)
  -h, --help                 this help
Credentials come from the environment (acr.credential.default(): AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, workload identity,
managed identity, then the Azure CLI); never from arguments.]]

local function expiry_help(width)
  return ("      %-" .. width .. "s passwords expire N days from now (UTC)\n"
    .. "      %-" .. width .. "s passwords expire at TIME (RFC 3339, e.g. 2027-01-01T00:00:00Z)\n")
    :format("--expiration-in-days N", "--expiration TIME")
end

local COMMANDS = {}
local ORDER = {}

local function command(path, spec)
  spec.path = path
  COMMANDS[path] = spec
  ORDER[#ORDER + 1] = path
end

local function command_help(spec)
  return ("usage: %s %s %s\n\n%s\n\n%s%s\n"):format(PROG, spec.path, spec.usage, spec.summary,
    spec.help and (spec.help:gsub("\n$", "") .. "\n\n") or "", COMMON_HELP)
end

local function top_help()
  local lines = { ("usage: %s GROUP COMMAND [options]   (%s GROUP COMMAND -h for a command's help)"):format(PROG, PROG), "" }
  for _, path in ipairs(ORDER) do
    lines[#lines + 1] = ("  %-28s %s"):format(path, COMMANDS[path].summary)
  end
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Exit status: 0 success, 1 the service failed, 2 usage, 3 authentication."
  lines[#lines + 1] = "acr --version prints the version. See " .. _M.doc .. "."
  return table.concat(lines, "\n") .. "\n"
end

local function group_help(prefix)
  local lines = { ("usage: %s %s COMMAND [options]"):format(PROG, prefix), "" }
  for _, path in ipairs(ORDER) do
    if path:sub(1, #prefix + 1) == prefix .. " " then
      lines[#lines + 1] = ("  %-28s %s"):format(path, COMMANDS[path].summary)
    end
  end
  return table.concat(lines, "\n") .. "\n"
end

---------------------------------------------------------------------------
-- argument parsing
---------------------------------------------------------------------------

-- Options every command takes: name -> { kind, short?, env? }.
local COMMON = {
  registry = { kind = "value", short = "r", env = "ACR_REGISTRY" },
  ["resource-group"] = { kind = "value", short = "g", env = "ACR_RESOURCE_GROUP" },
  subscription = { kind = "value", env = "AZURE_SUBSCRIPTION_ID" },
  cloud = { kind = "value" },
  endpoint = { kind = "value", env = "ACR_ENDPOINT" },
  ["ca-file"] = { kind = "value", env = "REQUESTS_CA_BUNDLE" },
  output = { kind = "value", short = "o" },
  verbose = { kind = "flag" },
  help = { kind = "flag", short = "h" },
}

-- Names that would carry a secret: refused, whatever the command, value unseen.
local function secret_option(name)
  return name == "password" or name == "p" or name:find("secret", 1, true)
      or name:find("access%-token") or name == "token" or name:find("password$")
      or name == "certificate-password" or name == "client-certificate-password"
end

local function spec_of(cmd, name)
  return (cmd.opts and cmd.opts[name]) or COMMON[name]
end

local function short_of(cmd, letter)
  for name, o in pairs(COMMON) do if o.short == letter then return name end end
  for name, o in pairs(cmd.opts or {}) do if o.short == letter then return name end end
end

-- pos[i]: the position in the command line of argv[i] (error messages count there).
local function parse(cmd, argv, pos)
  local o = { _multi = {} }
  local i = 1
  while i <= #argv do
    local a = argv[i]
    local name, inline
    if a:sub(1, 2) == "--" and #a > 2 then
      name, inline = a:match("^%-%-([^=]+)=(.*)$")
      name = name or a:sub(3)
    elseif a:match("^%-%a$") then
      name = short_of(cmd, a:sub(2))
      if not name then
        if secret_option(a:sub(2)) then
          usage_error(a .. ": secrets are not taken as arguments (they show in ps and in shell "
            .. "history); credentials come from the environment", cmd)
        end
        usage_error("unknown option " .. a, cmd)
      end
    else
      -- never echoed: it may be a value meant for an option that takes none; nor is
      -- the argument before it unless it is an option
      local prev = argv[i - 1]
      usage_error(("unexpected argument #%d%s"):format(pos and pos[i] or i,
        prev and prev:match("^%-%-?[%a][%w-]*") and (" after " .. prev:match("^%-%-?[%a][%w-]*"))
        or ""), cmd)
    end
    local spec = spec_of(cmd, name)
    if not spec then
      if secret_option(name) then
        usage_error("--" .. name .. ": secrets are not taken as arguments (they show in ps and "
          .. "in shell history); credentials come from the environment", cmd)
      end
      usage_error("unknown option --" .. name, cmd)
    end
    if spec.kind == "flag" then
      if inline then usage_error("--" .. name .. " takes no value", cmd) end
      o[name] = true
      i = i + 1
    elseif spec.kind == "value" then
      local v = inline
      if not v then
        v = argv[i + 1]
        if v == nil or (v:sub(1, 1) == "-" and #v > 1 and not v:match("^%-%d")) then
          usage_error("--" .. name .. " needs a value", cmd)
        end
        i = i + 1
      end
      if v == "" then usage_error("--" .. name .. " must not be empty", cmd) end
      if o[name] ~= nil then usage_error("--" .. name .. " was given twice", cmd) end
      o[name] = v
      i = i + 1
    else -- "multi": --opt NAME VALUE… (repeatable)
      local group = {}
      if inline then group[1] = inline end
      i = i + 1
      while argv[i] and argv[i]:sub(1, 1) ~= "-" do
        group[#group + 1] = argv[i]
        i = i + 1
      end
      if #group < 2 then usage_error("--" .. name .. " needs a name and at least one action", cmd) end
      o._multi[name] = o._multi[name] or {}
      table.insert(o._multi[name], group)
    end
  end
  if o.help then return o end
  for name, spec in pairs(COMMON) do
    if o[name] == nil and spec.env then
      local v = os.getenv(spec.env)
      if v and v ~= "" then o[name] = v end
    end
  end
  o.output = o.output or "json"
  if not set_of { "json", "table", "tsv", "none" }[o.output] then
    usage_error("--output must be json, table, tsv or none", cmd)
  end
  for _, req in ipairs { "subscription", "resource-group", "registry" } do
    if not o[req] then
      usage_error(("--%s is required (or set %s)"):format(req, COMMON[req].env), cmd)
    end
  end
  if cmd.needs_name ~= false and not o.name then usage_error("--name is required", cmd) end
  return o
end

---------------------------------------------------------------------------
-- option values
---------------------------------------------------------------------------

local function check_repository(repo, cmd)
  if #repo > 256 or not repo:match("^[a-z0-9*][a-z0-9._/*-]*$") or repo:find("//", 1, true)
    or repo:find("/$") then
    usage_error("'" .. repo .. "' is not a repository name (lower-case letters, digits, '.', '_', "
      .. "'-', '/')", cmd)
  end
end

local function check_gateway(gw, cmd)
  if #gw > 50 or not gw:match("^[A-Za-z0-9][A-Za-z0-9-]*$") then
    usage_error("'" .. gw .. "' is not a gateway (connected registry) name", cmd)
  end
end

-- {{"repo", "content/read", …}, …} -> {"repositories/repo/content/read", …}
local function repo_actions(groups, cmd, flag)
  local out = {}
  for _, g in ipairs(groups or {}) do
    check_repository(g[1], cmd)
    for k = 2, #g do
      if not REPO_ACTION_SET[g[k]] then
        usage_error(("%s %s: '%s' is not a repository action (%s)"):format(flag, g[1], g[k],
          table.concat(REPO_ACTIONS, ", ")), cmd)
      end
      out[#out + 1] = "repositories/" .. g[1] .. "/" .. g[k]
    end
  end
  return out
end

local function gateway_actions(groups, cmd, flag)
  local out = {}
  for _, g in ipairs(groups or {}) do
    check_gateway(g[1], cmd)
    for k = 2, #g do
      if not GATEWAY_ACTION_SET[g[k]] then
        usage_error(("%s %s: '%s' is not a gateway action (%s)"):format(flag, g[1], g[k],
          table.concat(GATEWAY_ACTIONS, ", ")), cmd)
      end
      out[#out + 1] = "gateway/" .. g[1] .. "/" .. g[k]
    end
  end
  return out
end

local function actions_from(o, cmd, repo_flag, gw_flag)
  local list = repo_actions(o._multi[repo_flag], cmd, "--" .. repo_flag)
  for _, a in ipairs(gateway_actions(o._multi[gw_flag], cmd, "--" .. gw_flag)) do
    list[#list + 1] = a
  end
  return list
end

local function is_rfc3339(s)
  local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return false end
  mo, d, h, mi, sec = tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return false end
  rest = rest:gsub("^%.%d+", "")
  return rest == "Z" or rest == "z" or rest:match("^[+-]%d%d:%d%d$") ~= nil
end

-- The expiry of generated passwords, or nil.
local function expiry_from(o, cmd)
  local days, at = o["expiration-in-days"], o.expiration
  if days and at then usage_error("give --expiration-in-days or --expiration, not both", cmd) end
  if days then
    local n = tonumber(days)
    if not n or n < 1 or n ~= math.floor(n) or n > 36500 then
      usage_error("--expiration-in-days must be a whole number of days, 1 or more", cmd)
    end
    return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + n * 86400)
  end
  if at then
    if not is_rfc3339(at) then
      usage_error("--expiration must be an RFC 3339 time, e.g. 2027-01-01T00:00:00Z", cmd)
    end
    return at
  end
end

local function check_status(s, cmd)
  if s and s ~= "enabled" and s ~= "disabled" then
    usage_error("--status must be enabled or disabled", cmd)
  end
  return s
end

---------------------------------------------------------------------------
-- output
---------------------------------------------------------------------------

-- What became of the output: closed (stdout was closed at the start: its reason), err
-- (the first write that failed: its reason), secrets (the token whose generated
-- passwords the output holds). Set anew by main().
local output = {}

local function out(s)
  if output.err then return end
  if output.closed then output.err = output.closed; return end
  local ok, err = io.stdout:write(s)
  if not ok then output.err = err end
end

-- The reason stdout cannot be written to, when its descriptor is closed (acr >&-):
-- nothing may be written then, as the descriptor may come to be a socket's.
local function stdout_closed()
  local pos, err, code = io.stdout:seek("cur")
  if pos == nil and code == 9 then return err or "Bad file descriptor" end -- EBADF
end

-- A value from the service or a user, for a terminal: control characters (C0, DEL,
-- and C1 as UTF-8) become spaces, so that no escape sequence reaches the terminal.
local function cell(v)
  if v == nil then return "" end
  return printable(v)
end

local function print_rows(o, headers, rows)
  if o.output == "tsv" then
    for _, r in ipairs(rows) do
      local c = {}
      for k = 1, #headers do c[k] = cell(r[k]) end
      out(table.concat(c, "\t") .. "\n")
    end
    return
  end
  if #rows == 0 then return end
  local width = {}
  for k, h in ipairs(headers) do width[k] = #h end
  for _, r in ipairs(rows) do
    for k = 1, #headers do width[k] = math.max(width[k], #cell(r[k])) end
  end
  local function line(vals)
    local c = {}
    for k = 1, #headers do
      c[k] = k == #headers and vals[k] or (vals[k] .. (" "):rep(width[k] - #vals[k]))
    end
    return (table.concat(c, "  "):gsub("%s+$", "")) .. "\n"
  end
  local dashes = {}
  for k = 1, #headers do dashes[k] = ("-"):rep(width[k]) end
  out(line(headers))
  out(line(dashes))
  for _, r in ipairs(rows) do
    local c = {}
    for k = 1, #headers do c[k] = cell(r[k]) end
    out(line(c))
  end
end

local SM_HEADERS = { "NAME", "TYPE", "CREATION DATE", "DESCRIPTION" }
local function sm_row(t)
  local p = t.properties or {}
  return { t.name, p.type, p.creationDate, p.description }
end

local TOKEN_HEADERS = { "NAME", "SCOPE MAP", "STATUS", "PASSWORD1 EXPIRY", "PASSWORD2 EXPIRY",
                        "PROVISIONING STATE", "CREATION DATE" }
local function token_row(t)
  local p = t.properties or {}
  local exp = {}
  for _, pw in ipairs((p.credentials or {}).passwords or {}) do
    if pw.name then exp[pw.name] = pw.expiry or "never" end
  end
  return { t.name, (p.scopeMapId or ""):match("[^/]*$"), p.status, exp.password1, exp.password2,
           p.provisioningState, p.creationDate }
end

local CRED_HEADERS = { "USERNAME", "PASSWORD", "VALUE", "EXPIRY", "CREATION TIME" }
local function cred_rows(c)
  local rows = {}
  for _, pw in ipairs(c.passwords or {}) do
    rows[#rows + 1] = { c.username, pw.name, pw.value, pw.expiry, pw.creationTime }
  end
  return rows
end

-- acr.GeneratedCredentials -> ARM's camelCase shape (the values included).
local function creds_table(creds)
  local pw = {}
  for i, p in ipairs(creds.passwords or {}) do
    pw[i] = { name = p.name, value = p.value, expiry = p.expiry, creationTime = p.creation_time }
  end
  return { username = creds.username, passwords = pw }
end

local function emit(o, kind, value)
  if o.output == "none" then return end
  local creds = kind == "credentials" and value
    or kind == "token_created" and (value.properties or {}).credentials
  for _, p in ipairs(creds and creds.passwords or {}) do
    if p.value then output.secrets = o.name end
  end
  if o.output == "json" then
    out(json_encode(value, "", kind == "scope_maps" or kind == "tokens") .. "\n")
    return
  end
  if kind == "scope_map" then print_rows(o, SM_HEADERS, { sm_row(value) })
  elseif kind == "scope_maps" then
    local rows = {}
    for i, t in ipairs(value) do rows[i] = sm_row(t) end
    print_rows(o, SM_HEADERS, rows)
  elseif kind == "token" then print_rows(o, TOKEN_HEADERS, { token_row(value) })
  elseif kind == "tokens" then
    local rows = {}
    for i, t in ipairs(value) do rows[i] = token_row(t) end
    print_rows(o, TOKEN_HEADERS, rows)
  elseif kind == "credentials" then print_rows(o, CRED_HEADERS, cred_rows(value))
  elseif kind == "token_created" then
    print_rows(o, TOKEN_HEADERS, { token_row(value) })
    local creds = value.properties and value.properties.credentials
    if creds and creds.username then
      if o.output == "table" then out("\n") end
      print_rows(o, CRED_HEADERS, cred_rows(creds))
    end
  elseif kind == "operation" then
    print_rows(o, { "STATUS", "REQUEST ID" }, { { value.status, value.request_id } })
  end
end

---------------------------------------------------------------------------
-- running operations
---------------------------------------------------------------------------

local FRAMES = { "|", "/", "-", "\\" }

-- Drives an acr.Operation to its end; with a spinner on stderr when stderr is a
-- terminal. op:wait(0.1) polls when a poll is due and sleeps at most 0.1 s.
local function drive(ctx, op, label)
  if ctx.spinner and not op:done() then
    local n, err = 0, io.stderr
    while not op:done() do
      n = n + 1
      -- the status is the service's word: no control character of it reaches the terminal
      err:write(("\r%s Running %s: %s "):format(FRAMES[n % #FRAMES + 1], printable(label),
        printable(op:status())))
      err:flush()
      op:wait(0.1)
    end
    err:write("\r\27[K")
    err:flush()
  end
  local v, e = op:result()
  if v == nil and e ~= nil then error(e, 0) end
  return v
end

-- --no-wait: drives the operation until the service has answered its first request
-- (a begin_* returns once it is sent).
local function started(ctx, op)
  local _, werr = op:wait_accepted()
  if werr then error(werr, 0) end
  if op:done() then
    local v, e = op:result()
    if v == nil and e ~= nil then error(e, 0) end
  end
  emit(ctx.o, "operation", { status = op:status(), request_id = op:request_id() })
end

-- Either starts (--no-wait) or runs the operation begin(...) returns; returns its
-- value, or nil after --no-wait.
local function run(ctx, label, begin, ...)
  local op = guarded(begin, ...)
  if ctx.o["no-wait"] then
    started(ctx, op)
    return nil
  end
  return drive(ctx, op, label)
end

local function fail_on(v, e)
  if v == nil and e ~= nil then error(e, 0) end
  return v
end

-- Refuses (usage) to go on without --yes when there is no terminal to ask on: called
-- before any request.
local function can_confirm(ctx, what)
  if ctx.o.yes then return end
  if not isatty(0) then
    usage_error("refusing to " .. what .. " without --yes: stdin is not a terminal to ask on",
      ctx.cmd)
  end
end

-- Asks on a terminal; refuses (usage) with none.
local function confirm(ctx, what)
  if ctx.o.yes then return end
  can_confirm(ctx, what)
  io.stderr:write(what:sub(1, 1):upper(), what:sub(2), ".\n")
  while true do
    io.stderr:write("Are you sure? (y/n): ")
    io.stderr:flush()
    local answer = io.stdin:read("*l")
    if answer == nil then break end
    answer = answer:lower():gsub("^%s+", ""):gsub("%s+$", "")
    if answer == "y" or answer == "yes" then return end
    if answer == "n" or answer == "no" then break end
  end
  cli_failure("Operation cancelled.")
end

---------------------------------------------------------------------------
-- commands
---------------------------------------------------------------------------

local NAME_OPT = { kind = "value", short = "n" }
local NO_WAIT = { kind = "flag" }
local YES = { kind = "flag", short = "y" }
local MULTI = { kind = "multi" }
local VALUE = { kind = "value" }
local FLAG = { kind = "flag" }

local function list_all(ctx, pager_fn)
  local items = {}
  local pager = guarded(pager_fn, ctx.client)
  local ok, e = pcall(function()
    for item in pager do items[#items + 1] = item:to_table() end
  end)
  if not ok then error(e, 0) end
  return items
end

-- Defines GROUP delete, GROUP show and GROUP list for one kind of resource. k: noun
-- ("scope map"), plural ("scope maps"), one and many (what emit is told the output is
-- of), get, begin_delete and pager (the names of the client's methods), delete_note
-- (added to the question delete asks) and show_note (added to show's summary), both
-- optional.
local function kind_commands(group, k)
  command(group .. " delete", {
    summary = "Delete a " .. k.noun .. ".",
    usage = "-n NAME [--yes] [--no-wait]",
    help = [[
  -n, --name NAME
  -y, --yes          do not ask (without it: asks on a terminal, refuses with none)
      --no-wait]],
    opts = { name = NAME_OPT, yes = YES, ["no-wait"] = NO_WAIT },
    run = function(ctx, o)
      confirm(ctx, "delete " .. k.noun .. " '" .. o.name .. "'" .. (k.delete_note or ""))
      run(ctx, "delete " .. k.noun .. " " .. o.name, ctx.client[k.begin_delete], ctx.client,
        o.name)
    end,
  })

  command(group .. " show", {
    summary = "Show a " .. k.noun .. (k.show_note or "") .. ".",
    usage = "-n NAME",
    help = "  -n, --name NAME",
    opts = { name = NAME_OPT },
    run = function(ctx, o)
      local v = fail_on(guarded(ctx.client[k.get], ctx.client, o.name))
      emit(o, k.one, v:to_table())
    end,
  })

  command(group .. " list", {
    summary = "List the registry's " .. k.plural .. ".",
    usage = "",
    needs_name = false,
    run = function(ctx, o)
      emit(o, k.many, list_all(ctx, ctx.client[k.pager]))
    end,
  })
end

command("scope-map create", {
  summary = "Create a scope map.",
  usage = "-n NAME (--repository REPO ACTION… | --gateway GATEWAY ACTION…)… [--description TEXT] [--no-wait]",
  help = ([[
  -n, --name NAME                       the scope map (5-50 of A-Z a-z 0-9 - _)
      --repository REPO ACTION...       repeatable; actions: %s
      --gateway GATEWAY ACTION...       repeatable; actions: %s (gateway/GATEWAY/ACTION)
      --description TEXT
      --no-wait                         start it, print its status and request id]]):format(
    table.concat(REPO_ACTIONS, " "), table.concat(GATEWAY_ACTIONS, " ")),
  opts = { name = NAME_OPT, repository = MULTI, gateway = MULTI, description = VALUE,
           ["no-wait"] = NO_WAIT },
  run = function(ctx, o)
    local actions = actions_from(o, ctx.cmd, "repository", "gateway")
    if #actions == 0 then usage_error("give at least one --repository or --gateway", ctx.cmd) end
    local sm = run(ctx, "create scope map " .. o.name, ctx.client.begin_create_scope_map,
      ctx.client, o.name, { actions = actions, description = o.description })
    if sm then emit(o, "scope_map", sm:to_table()) end
  end,
})

command("scope-map update", {
  summary = "Update a scope map's actions or description.",
  usage = "-n NAME [--add-repository REPO ACTION…] [--remove-repository REPO ACTION…] "
    .. "[--add-gateway GATEWAY ACTION…] [--remove-gateway GATEWAY ACTION…] "
    .. "[--repository REPO ACTION… | --gateway GATEWAY ACTION…] [--description TEXT] [--no-wait]",
  help = [[
  -n, --name NAME
      --add-repository REPO ACTION...      add these actions (repeatable)
      --remove-repository REPO ACTION...   remove these actions (repeatable)
      --add-gateway GATEWAY ACTION...      as --add-repository, for gateway/GATEWAY/ACTION
      --remove-gateway GATEWAY ACTION...
      --repository / --gateway ...         replace all actions by these (not with --add/--remove)
      --description TEXT
      --no-wait]],
  opts = { name = NAME_OPT, repository = MULTI, gateway = MULTI, ["add-repository"] = MULTI,
           ["remove-repository"] = MULTI, ["add-gateway"] = MULTI, ["remove-gateway"] = MULTI,
           description = VALUE, ["no-wait"] = NO_WAIT },
  run = function(ctx, o)
    local cmd = ctx.cmd
    local set = actions_from(o, cmd, "repository", "gateway")
    local add = actions_from(o, cmd, "add-repository", "add-gateway")
    local remove = actions_from(o, cmd, "remove-repository", "remove-gateway")
    if #set > 0 and (#add > 0 or #remove > 0) then
      usage_error("--repository/--gateway replace the actions: not with --add-*/--remove-*", cmd)
    end
    if #set == 0 and #add == 0 and #remove == 0 and not o.description then
      usage_error("nothing to update: give actions to add or remove, or --description", cmd)
    end
    local params = { description = o.description }
    if #set > 0 then
      params.actions = set
    elseif #add > 0 or #remove > 0 then
      local sm = fail_on(guarded(ctx.client.get_scope_map, ctx.client, o.name))
      local drop, have, actions = set_of(remove), {}, {}
      for _, a in ipairs(sm.actions or {}) do
        if not drop[a] and not have[a] then actions[#actions + 1] = a; have[a] = true end
      end
      for _, a in ipairs(add) do
        if not have[a] then actions[#actions + 1] = a; have[a] = true end
      end
      if #actions == 0 then
        usage_error("this would remove every action of scope map '" .. o.name .. "'; a scope map "
          .. "needs at least one (delete it with acr scope-map delete, or give --add-*)", cmd)
      end
      params.actions = actions
    end
    local sm = run(ctx, "update scope map " .. o.name, ctx.client.begin_update_scope_map,
      ctx.client, o.name, params)
    if sm then emit(o, "scope_map", sm:to_table()) end
  end,
})

kind_commands("scope-map", {
  noun = "scope map", plural = "scope maps", one = "scope_map", many = "scope_maps",
  get = "get_scope_map", begin_delete = "begin_delete_scope_map", pager = "scope_maps",
  delete_note = " (tokens bound to it lose its permissions)",
})

-- Generates the passwords (name nil: both) of a token; returns ARM's shape.
local function generate(ctx, tok_name, name, expiry)
  local creds = run(ctx, "generate credentials for " .. tok_name,
    ctx.client.begin_generate_credentials, ctx.client,
    { token = tok_name, name = name, expiry = expiry })
  return creds and creds_table(creds)
end

command("token create", {
  summary = "Create a token (and, unless --no-passwords, both of its passwords).",
  usage = "-n NAME (--scope-map MAP | --repository REPO ACTION… | --gateway GATEWAY ACTION…) "
    .. "[--status enabled|disabled] [--no-passwords | --expiration-in-days N | --expiration TIME] [--no-wait]",
  help = [[
  -n, --name NAME                   the token (5-50 of A-Z a-z 0-9 -)
      --scope-map MAP               the scope map to bind it to (a name or a resource id)
      --repository REPO ACTION...   instead of --scope-map: create the scope map NAME-scope-map
      --gateway GATEWAY ACTION...     with these actions and bind the token to it
      --status STATUS               enabled (default) or disabled
      --no-passwords                do not generate passwords
]] .. expiry_help(29) .. [[
      --no-wait                     start the creation, print its status and request id
                                    (no passwords are generated then)]],
  opts = { name = NAME_OPT, ["scope-map"] = VALUE, repository = MULTI, gateway = MULTI,
           status = VALUE, ["no-passwords"] = FLAG, ["expiration-in-days"] = VALUE,
           expiration = VALUE, ["no-wait"] = NO_WAIT },
  run = function(ctx, o)
    local cmd = ctx.cmd
    local actions = actions_from(o, cmd, "repository", "gateway")
    local status = check_status(o.status, cmd)
    local expiry = expiry_from(o, cmd)
    if o["scope-map"] and #actions > 0 then
      usage_error("give --scope-map or --repository/--gateway, not both", cmd)
    end
    if not o["scope-map"] and #actions == 0 then
      usage_error("give --scope-map, or --repository/--gateway to make one", cmd)
    end
    if o["no-passwords"] and expiry then
      usage_error("--expiration* set the passwords' expiry: not with --no-passwords", cmd)
    end
    local scope_map = o["scope-map"]
    if #actions > 0 then
      -- as az does: a scope map of the token's own, named after it
      scope_map = o.name .. "-scope-map"
      local sm_ctx = setmetatable({ o = setmetatable({ ["no-wait"] = false }, { __index = o }) },
        { __index = ctx })
      run(sm_ctx, "create scope map " .. scope_map, ctx.client.begin_create_scope_map, ctx.client,
        scope_map, { actions = actions, description = "Token " .. o.name .. " scope map" })
    end
    local tok = run(ctx, "create token " .. o.name, ctx.client.begin_create_token, ctx.client,
      o.name, { scope_map = scope_map, status = status })
    if not tok then
      if not o["no-passwords"] then
        io.stderr:write("acr: --no-wait: no passwords were generated; when the token exists: "
          .. "acr token credential generate -n " .. o.name .. "\n")
      end
      return
    end
    local t = tok:to_table()
    if not o["no-passwords"] then
      local ok, creds = pcall(generate, ctx, o.name, nil, expiry)
      if not ok then
        io.stderr:write("acr: token " .. o.name .. " was created, but generating its passwords failed\n")
        error(creds, 0)
      end
      t.properties = t.properties or {}
      t.properties.credentials = t.properties.credentials or {}
      t.properties.credentials.username = creds.username
      t.properties.credentials.passwords = creds.passwords
    end
    emit(o, "token_created", t)
  end,
})

command("token update", {
  summary = "Update a token's scope map or status.",
  usage = "-n NAME [--scope-map MAP] [--status enabled|disabled] [--no-wait]",
  help = [[
  -n, --name NAME
      --scope-map MAP     bind it to another scope map (a name or a resource id)
      --status STATUS     enabled or disabled
      --no-wait]],
  opts = { name = NAME_OPT, ["scope-map"] = VALUE, status = VALUE, ["no-wait"] = NO_WAIT },
  run = function(ctx, o)
    local status = check_status(o.status, ctx.cmd)
    if not status and not o["scope-map"] then
      usage_error("nothing to update: give --scope-map or --status", ctx.cmd)
    end
    local tok = run(ctx, "update token " .. o.name, ctx.client.begin_update_token, ctx.client,
      o.name, { scope_map = o["scope-map"], status = status })
    if tok then emit(o, "token", tok:to_table()) end
  end,
})

kind_commands("token", {
  noun = "token", plural = "tokens", one = "token", many = "tokens",
  get = "get_token", begin_delete = "begin_delete_token", pager = "tokens",
  show_note = " (its passwords' names and expiries, never values)",
})

command("token credential generate", {
  summary = "Generate password1, password2 or both; prints them once.",
  usage = "-n TOKEN [--password1] [--password2] [--expiration-in-days N | --expiration TIME] [--no-wait]",
  help = [[
  -n, --name TOKEN
      --password1              generate password1 (neither --password1 nor --password2: both)
      --password2              generate password2
]] .. expiry_help(24) .. [[
      --no-wait                start it, print its status and request id (the values are then lost)]],
  opts = { name = NAME_OPT, password1 = FLAG, password2 = FLAG, ["expiration-in-days"] = VALUE,
           expiration = VALUE, ["no-wait"] = NO_WAIT },
  run = function(ctx, o)
    local expiry = expiry_from(o, ctx.cmd)
    local name
    if o.password1 and not o.password2 then name = "password1" end
    if o.password2 and not o.password1 then name = "password2" end
    local creds = generate(ctx, o.name, name, expiry)
    if creds then emit(o, "credentials", creds) end
  end,
})

command("token credential delete", {
  summary = "Delete password1 and/or password2 of a token.",
  usage = "-n TOKEN (--password1 | --password2)… [--yes] [--no-wait]",
  help = [[
  -n, --name TOKEN
      --password1     delete password1
      --password2     delete password2
  -y, --yes           do not ask (without it: asks on a terminal, refuses with none)
      --no-wait
As az does: the token is read, then PATCHed with the passwords it keeps.]],
  opts = { name = NAME_OPT, password1 = FLAG, password2 = FLAG, yes = YES, ["no-wait"] = NO_WAIT },
  run = function(ctx, o)
    if not o.password1 and not o.password2 then
      usage_error("give --password1, --password2 or both", ctx.cmd)
    end
    local what = "delete " .. ((o.password1 and o.password2) and "password1 and password2"
      or (o.password1 and "password1" or "password2")) .. " of token '" .. o.name .. "'"
    can_confirm(ctx, what) -- before the token is read
    local tok = fail_on(guarded(ctx.client.get_token, ctx.client, o.name))
    local have = {}
    for _, p in ipairs((tok.credentials or {}).passwords or {}) do have[p.name] = true end
    local drop = { password1 = o.password1, password2 = o.password2 }
    for _, n in ipairs { "password1", "password2" } do
      if drop[n] and not have[n] then cli_failure("token '" .. o.name .. "' has no " .. n) end
    end
    local keep = {}
    for _, n in ipairs { "password1", "password2" } do
      if have[n] and not drop[n] then keep[#keep + 1] = '{"name":"' .. n .. '"}' end
    end
    confirm(ctx, what)
    -- a string body: an empty Lua table would be encoded as {} where ARM wants []
    local body = '{"properties":{"credentials":{"passwords":[' .. table.concat(keep, ",") .. "]}}}"
    local res = run(ctx, "delete credentials of " .. o.name, ctx.client.begin_request, ctx.client,
      "PATCH", tok.id, { body = body, lro = true,
                         headers = { ["Content-Type"] = "application/json" } })
    if res then
      local t = type(res.body) == "table" and res.body or tok:to_table()
      emit(o, "token", t)
    end
  end,
})

---------------------------------------------------------------------------
-- main
---------------------------------------------------------------------------

local function make_client(o)
  local cred = guarded(acr.credential.default)
  local logger
  if o.verbose then
    logger = function(level, message)
      io.stderr:write("acr: ", tostring(level), ": ", tostring(message), "\n")
    end
  end
  return guarded(acr.client, {
    subscription_id = o.subscription, resource_group = o["resource-group"],
    registry = o.registry, credential = cred, cloud = o.cloud, endpoint = o.endpoint,
    ca_file = o["ca-file"], logger = logger,
    user_agent = "acr-cli/" .. tostring(acr._VERSION),
  })
end

local function is_group(prefix)
  if prefix == "" then return false end
  for _, path in ipairs(ORDER) do
    if path:sub(1, #prefix + 1) == prefix .. " " then return true end
  end
  return false
end

local function is_dash(a) return a:sub(1, 1) == "-" and #a > 1 end

-- Every option of any command: name -> spec, letter -> name.
local function all_options()
  local long, short = { version = FLAG }, {}
  local function add(name, spec)
    long[name] = long[name] or spec
    if spec.short then short[spec.short] = short[spec.short] or name end
  end
  for name, spec in pairs(COMMON) do add(name, spec) end
  for _, path in ipairs(ORDER) do
    for name, spec in pairs(COMMANDS[path].opts or {}) do add(name, spec) end
  end
  return long, short
end

-- The option a dash-argument names (-r: registry), and its inline value.
local function option_of(a, short)
  if a:sub(1, 2) == "--" and #a > 2 then
    local name, inline = a:match("^%-%-([^=]+)=(.*)$")
    return name or a:sub(3), inline
  end
  local letter = a:match("^%-(%a)$")
  if letter then return short[letter] or letter end
  return a:sub(2)
end

-- Whether word w, after the command words so far, still names a command or group.
local function continues(words, w)
  local path = #words > 0 and (table.concat(words, " ") .. " " .. w) or w
  return COMMANDS[path] ~= nil or is_group(path)
end

local SECRET_MESSAGE = ": secrets are not taken as arguments (they show in ps and in shell "
  .. "history); credentials come from the environment"

-- The command's words may come before, between or after options (acr -o table token
-- list): returns the command, the other arguments in their order and, for each, its
-- position in argv. Without a command: nil, then a table saying why, {secret=,
-- unknown=, bad=, prefix=}; nothing in it repeats a word that is not a command's or
-- an option's name.
local function resolve(argv)
  local long, short = all_options()
  -- a secret option is refused wherever it stands (its value is never looked at)
  for _, a in ipairs(argv) do
    if is_dash(a) then
      local name = option_of(a, short)
      if not long[name] and secret_option(name) then
        return nil, { secret = a:gsub("=.*", "") }
      end
    end
  end
  local words, rest, pos = {}, {}, {}
  local unknown
  local function keep(k)
    rest[#rest + 1] = argv[k]
    pos[#rest] = k
  end
  local i = 1
  while argv[i] do
    local a = argv[i]
    if is_dash(a) then
      keep(i)
      local name, inline = option_of(a, short)
      local spec = long[name]
      local nxt = argv[i + 1]
      if not spec then
        -- its next argument may be its value: never taken for a command word
        if not unknown then
          unknown = a:match("^%-%-[%w][%w-]*") or a:match("^%-%a$")
            or ("(argument #" .. i .. ")")
        end
        if not inline and nxt and not is_dash(nxt) then i = i + 1; keep(i) end
      elseif spec.kind == "value" then
        if not inline and nxt and (not is_dash(nxt) or nxt:match("^%-%d")) then
          i = i + 1; keep(i)
        end
      elseif spec.kind == "multi" then
        -- a name, then actions (which hold a '/', as no command word does)
        local first = not inline
        while argv[i + 1] and not is_dash(argv[i + 1])
            and (first or argv[i + 1]:find("/", 1, true) or not continues(words, argv[i + 1])) do
          i = i + 1; keep(i)
          first = false
        end
      end
    else
      local prefix = table.concat(words, " ")
      words[#words + 1] = a
      local path = table.concat(words, " ")
      if COMMANDS[path] then
        for k = i + 1, #argv do keep(k) end
        return COMMANDS[path], rest, pos
      end
      if not is_group(path) then
        return nil, { unknown = unknown, bad = i, prefix = prefix, rest = rest }
      end
    end
    i = i + 1
  end
  return nil, { unknown = unknown, prefix = table.concat(words, " "), rest = rest }
end

local function help_of(prefix)
  return is_group(prefix) and group_help(prefix) or top_help()
end

local function run_main(argv)
  local cmd, rest, pos = resolve(argv)
  if not cmd then
    local why = rest
    local prefix = why.prefix or ""
    local help = help_of(prefix)
    local msg
    if why.secret then
      msg = why.secret .. SECRET_MESSAGE
    else
      local wants_help = false
      for _, a in ipairs(why.rest) do wants_help = wants_help or a == "-h" or a == "--help" end
      if prefix == "" and not why.bad and argv[1] == "--version" then
        out(PROG .. " " .. tostring(acr._VERSION) .. "\n")
        return EXIT_OK
      end
      if wants_help and not why.bad and not why.unknown then
        out(help)
        return EXIT_OK
      end
      -- a word that is not a command's is never repeated: it may be a misplaced value
      msg = why.unknown and ("unknown option " .. why.unknown)
        or why.bad and ("unknown command (argument #%d%s)"):format(why.bad,
          prefix ~= "" and (" after '" .. prefix .. "'") or "")
        or prefix == "" and "a command is required"
        or ("'" .. prefix .. "' needs a command")
    end
    io.stderr:write(PROG, ": error: ", msg, "\n\n", help)
    return EXIT_USAGE
  end

  local ctx = { cmd = cmd }
  local ok, e = pcall(function()
    local o = parse(cmd, rest, pos)
    if o.help then
      out(command_help(cmd))
      return
    end
    ctx.o = o
    -- nothing is asked of the service when its answer could not be delivered
    if output.closed and o.output ~= "none" then
      output.err = output.closed
      error(setmetatable({ lost = true }, UsageError), 0)
    end
    ctx.client = make_client(o)
    ctx.spinner = isatty(2)
    cmd.run(ctx, o)
  end)
  if ctx.client then pcall(ctx.client.close, ctx.client) end
  if ok then return EXIT_OK end
  if getmetatable(e) == UsageError then
    if e.lost then return EXIT_SERVICE end
    if e.cli then
      io.stderr:write("ERROR: ", e.message, "\n")
      return EXIT_SERVICE
    end
    io.stderr:write(PROG, " ", cmd.path, ": error: ", e.message, "\n\n", command_help(cmd))
    return EXIT_USAGE
  end
  if acr.is_error(e) then return report_error(e) end
  io.stderr:write(PROG, ": internal error: ", tostring(e), "\n")
  return EXIT_SERVICE
end

-- Runs the command line, then makes sure its output was delivered: a write or flush
-- that failed (a full disk, a closed stdout) is exit 1, said on stderr. (A closed
-- pipe still ends the process with SIGPIPE, as for any other program.)
local function main(argv)
  output = { closed = stdout_closed() }
  local code = run_main(argv or {})
  if not output.err and not output.closed then
    local ok, err = io.stdout:flush()
    if not ok then output.err = err end
  end
  if output.err then
    io.stderr:write(PROG, ": cannot write the output: ", tostring(output.err), "\n")
    if output.secrets then
      io.stderr:write(PROG, ": the new passwords of token '", output.secrets, "' were generated but "
        .. "not delivered: generate them again (acr token credential generate -n ", output.secrets,
        ")\n")
    end
    if code == EXIT_OK then code = EXIT_SERVICE end
  end
  return code
end

-- syntax: code = cli.main(argv)
function _M.main(argv)
  return main(argv)
end

return _M
