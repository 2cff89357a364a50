-- Shared spec helpers: start/stop an acr-emulator per spec file and talk HTTP
-- to it through the curl CLI (so specs need no Lua socket library and the
-- traffic is real). Works under Lua 5.4 and LuaJIT, from any working directory.
--
--   local em = helpers.start_emulator{ tls = true, polls = 0, retry_after = 0 }
--   local status, headers, body = helpers.http("GET", em.url .. "/…", {
--     headers = { Authorization = "Bearer " .. em:token() }, ca_file = em.ca_file })
--   em:stop()

local cjson = require "cjson.safe"

local helpers = {}

local function script_path()
  local src = debug.getinfo(1, "S").source
  src = src:sub(1, 1) == "@" and src:sub(2) or "spec/helpers.lua"
  if src:sub(1, 1) ~= "/" then
    local p = io.popen("pwd")
    local cwd = p:read("*l")
    p:close()
    src = cwd .. "/" .. src
  end
  return src
end

-- Repository root: the directory above spec/.
helpers.root = script_path():match("^(.*)/spec/[^/]*$"):gsub("/%./", "/"):gsub("/%.$", "")
helpers.emulator_bin = helpers.root .. "/bin/acr-emulator"
helpers.API_VERSION = "2019-05-01-preview"

-- syntax: s = helpers.quote(s)   single-quoted for /bin/sh
function helpers.quote(s)
  return "'" .. tostring(s):gsub("'", "'\\''") .. "'"
end
local q = helpers.quote

-- syntax: ok, output, code = helpers.sh(cmd)   stdout and stderr together
-- (The exit code is echoed rather than taken from close(): LuaJIT's close() hides it.)
function helpers.sh(cmd)
  local p = assert(io.popen("( " .. cmd .. " ) 2>&1; echo \"__rc=$?\""))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("__rc=(%d+)%s*$"))
  out = out:gsub("__rc=%d+%s*$", "")
  return code == 0, out, code
end

function helpers.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

function helpers.write_file(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

-- syntax: dir = helpers.tmpdir(prefix?)   a fresh directory; remove it with helpers.rmdir
function helpers.tmpdir(prefix)
  local base = os.getenv("TMPDIR") or "/tmp"
  local ok, out = helpers.sh("mktemp -d " .. q(base .. "/" .. (prefix or "acr-spec") .. ".XXXXXX"))
  assert(ok, "mktemp failed: " .. out)
  return (out:gsub("%s+$", ""))
end

function helpers.rmdir(dir)
  if dir and dir:match("^/.+/.+") then helpers.sh("rm -rf " .. q(dir)) end
end

-- JSON helpers (cjson.safe: decode returns nil on bad input instead of raising).
helpers.json_encode = cjson.encode
function helpers.json_decode(s)
  if type(s) ~= "string" then return nil end
  return cjson.decode(s)
end

---------------------------------------------------------------------------
-- HTTP through curl
---------------------------------------------------------------------------

local scratch       -- one directory per process for curl's header/body files
local counter = 0

local function scratch_dir()
  if not scratch then scratch = helpers.tmpdir("acr-spec-http") end
  return scratch
end

local function parse_headers(text)
  -- With redirects or 100-continue curl writes several blocks: keep the last.
  local last
  for block in (text or ""):gsub("\r\n", "\n"):gmatch("HTTP/[^\n]*\n.-\n\n") do last = block end
  local headers = {}
  if not last then return headers end
  local first = true
  for line in last:gmatch("([^\n]*)\n") do
    if first then
      first = false
    else
      local k, v = line:match("^([^:]+):%s*(.-)%s*$")
      if k then
        k = k:lower()
        headers[k] = headers[k] and (headers[k] .. ", " .. v) or v
      end
    end
  end
  return headers
end

-- syntax: status, headers, body = helpers.http(method, url, opts?)
--   opts.headers  table of request headers
--   opts.body     string, or a table sent as JSON (Content-Type added)
--   opts.form     table sent as application/x-www-form-urlencoded
--   opts.ca_file  CA bundle for https
--   opts.timeout  seconds (default 30)
-- headers has lowercased names (repeated ones joined with ", ").
-- On a transport failure (refused, dropped connection) returns nil, message.
function helpers.http(method, url, opts)
  opts = opts or {}
  local dir = scratch_dir()
  counter = counter + 1
  local hfile = dir .. "/h" .. counter
  local bfile = dir .. "/b" .. counter
  local ifile = dir .. "/i" .. counter
  -- HEAD as --head: with -X HEAD curl waits for the body a Content-Length announces
  local args = { "curl", "-sS", "-D", hfile, "-o", bfile, "-w", "%{http_code}",
    "--max-time", tostring(opts.timeout or 30), "-H", "Expect:" }
  local function add(...)
    for _, a in ipairs { ... } do args[#args + 1] = a end
  end
  -- HEAD as --head: with -X HEAD curl waits for the body a Content-Length announces
  if method == "HEAD" then add("--head") else add("-X", method) end
  if opts.ca_file then add("--cacert", opts.ca_file) end
  local headers = {}
  for k, v in pairs(opts.headers or {}) do headers[k:lower()] = true; add("-H", k .. ": " .. v) end
  local body = opts.body
  if type(body) == "table" then
    body = assert(cjson.encode(body))
    if not headers["content-type"] then add("-H", "Content-Type: application/json") end
  end
  if body then
    helpers.write_file(ifile, body)
    add("--data-binary", "@" .. ifile)
  end
  for k, v in pairs(opts.form or {}) do add("--data-urlencode", k .. "=" .. v) end
  add(url)
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = q(a) end
  local p = assert(io.popen(table.concat(quoted, " ") .. " 2>&1"))
  local out = p:read("*a")
  p:close()
  local code = out:match("(%d%d%d)%s*$")
  local resp_headers = parse_headers(helpers.read_file(hfile))
  local resp_body = helpers.read_file(bfile) or ""
  os.remove(hfile); os.remove(bfile); os.remove(ifile)
  if not code or code == "000" then
    return nil, (out:gsub("000%s*$", ""):gsub("%s+$", ""))
  end
  return tonumber(code), resp_headers, resp_body
end

---------------------------------------------------------------------------
-- the emulator
---------------------------------------------------------------------------

local FLAGS = {
  port = "--port", polls = "--polls", retry_after = "--retry-after", lro_style = "--lro-style",
  page_size = "--page-size", latency_ms = "--latency-ms", token_lifetime = "--token-lifetime",
  fail_rate = "--fail-rate", seed = "--seed", seed_data = "--seed-data",
}

-- The registry every emulator a spec starts has (spec/client_helpers.lua's SUB/RG/REG,
-- and em:registry_path()'s defaults): registries exist only when seeded.
helpers.DEFAULT_SUB = "00000000-0000-0000-0000-000000000001"
helpers.DEFAULT_RG = "rg-emulator"
helpers.DEFAULT_REG = "emuregistry"
helpers.DEFAULT_REGISTRY = helpers.DEFAULT_SUB .. "/" .. helpers.DEFAULT_RG .. "/" .. helpers.DEFAULT_REG

local running = {}

local function stop_all()
  for em in pairs(running) do pcall(em.stop, em) end
  if scratch then
    helpers.rmdir(scratch)
    scratch = nil
  end
end

-- Stops whatever is still running and removes curl's scratch directory when the
-- interpreter closes its state (busted exits with os.exit(code, true)), e.g.
-- after a spec errored before its teardown.
if newproxy then
  helpers._sentinel = newproxy(true)
  getmetatable(helpers._sentinel).__gc = stop_all
else
  helpers._sentinel = setmetatable({}, { __gc = stop_all })
end

-- syntax: ok, output, code = helpers.run_lua(env, code)
-- Runs Lua code in a fresh interpreter of this flavour (ACR_LUA, with this flavour's
-- module first on LUA_CPATH) with extra environment variables (Lua cannot set its
-- own); stdout and stderr together. Under lua5.4-asan the child inherits ASAN_OPTIONS,
-- so a leak at its exit makes it fail.
function helpers.run_lua(env, code)
  local parts = { "env" }
  for k, v in pairs(env) do parts[#parts + 1] = q(k .. "=" .. v) end
  -- (a full path: the child's PATH may be a folder of the spec's own)
  local interp = os.getenv("ACR_LUA") or select(2, helpers.sh("command -v lua5.4")):gsub("%s+$", "")
  local cpath = (os.getenv("ACR_CPATH") or (helpers.root .. "/build/lua5.4/?.so")) .. ";;"
  parts[#parts + 1] = q("LUA_CPATH=" .. cpath)
  parts[#parts + 1] = q(interp)
  parts[#parts + 1] = "-e"
  parts[#parts + 1] = q(code)
  return helpers.sh(table.concat(parts, " "))
end

-- syntax: pid = helpers.own_pid()   this interpreter's process id, as a string
local my_pid
local function own_pid()
  if not my_pid then
    local p = io.popen("echo $PPID")   -- the shell's parent is this interpreter
    my_pid = p:read("*l")
    p:close()
  end
  return my_pid
end
helpers.own_pid = own_pid

local Emulator = {}
Emulator.__index = Emulator

-- syntax: em = helpers.start_emulator(opts?)
--   opts: tls (bool), port, polls, retry_after, lro_style, page_size, latency_ms,
--         token_lifetime, fail_rate, seed, seed_data (as the CLI flags), dir,
--         throttle (true for --throttle alone, or its SPEC string),
--         registries ({"SUB/RG/NAME", …}: seeded besides helpers.DEFAULT_REGISTRY),
--         subscription_names ({ [ID] = NAME }: display names in GET /subscriptions)
-- em.url, em.ca_file (tls), em.dir, em.client_id, em.client_secret
-- The emulator also stops by itself when this interpreter exits.
function helpers.start_emulator(opts)
  opts = opts or {}
  local flags = {}
  for k, v in pairs(opts) do
    if FLAGS[k] then
      flags[#flags + 1] = FLAGS[k]
      flags[#flags + 1] = tostring(v)
    elseif k == "tls" or k == "http2" then
      if v then flags[#flags + 1] = "--" .. k end
    elseif k == "throttle" then
      -- true: the flag alone (ARM's buckets); a string: its KIND=BUCKET/REFILL,… value
      if v then flags[#flags + 1] = "--throttle" end
      if type(v) == "string" then flags[#flags + 1] = v end
    elseif k == "registries" then
      for _, r in ipairs(v) do
        flags[#flags + 1] = "--registry"
        flags[#flags + 1] = r
      end
    elseif k == "subscription_names" then   -- { [ID] = NAME }: --subscription-name ID=NAME
      for id, name in pairs(v) do
        flags[#flags + 1] = "--subscription-name"
        flags[#flags + 1] = id .. "=" .. name
      end
    elseif k ~= "dir" then
      error("start_emulator: unknown option '" .. tostring(k) .. "'", 2)
    end
  end
  local own_dir = not opts.dir
  local dir = opts.dir or helpers.tmpdir("acr-emulator")
  local args = { helpers.emulator_bin, "start", "--dir", dir, "--watch-pid", own_pid(),
    "--registry", helpers.DEFAULT_REGISTRY }
  for _, f in ipairs(flags) do args[#args + 1] = f end
  local quoted = {}
  for i, a in ipairs(args) do quoted[i] = q(a) end
  local errfile = dir .. "/start.err"
  local ok, out = helpers.sh(table.concat(quoted, " ") .. " 2>" .. q(errfile))
  if not ok then
    local err = helpers.read_file(errfile) or ""
    if own_dir then helpers.rmdir(dir) end
    error("acr-emulator start failed: " .. err .. out, 2)
  end
  local lines = {}
  for line in out:gmatch("[^\n]+") do lines[#lines + 1] = line end
  local em = setmetatable({
    url = lines[1], ca_file = opts.tls and lines[2] or nil, dir = dir, own_dir = own_dir,
    client_id = "00000000-0000-0000-0000-0000000000c1", client_secret = "emulator-secret",
  }, Emulator)
  running[em] = true
  return em
end

-- syntax: em:stop()   idempotent; removes the temporary directory it made
function Emulator:stop()
  if self.stopped then return end
  self.stopped = true
  running[self] = nil
  helpers.sh(q(helpers.emulator_bin) .. " stop --dir " .. q(self.dir))
  if self.own_dir then helpers.rmdir(self.dir) end
end

-- syntax: status, headers, body = em:request(method, path_or_url, opts?)
-- Like helpers.http, relative to em.url, with the emulator's CA file.
function Emulator:request(method, path, opts)
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.ca_file = o.ca_file or self.ca_file
  local url = path:match("^https?://") and path or (self.url .. path)
  return helpers.http(method, url, o)
end

-- syntax: decoded, status = em:admin(method, path, body_table?)
function Emulator:admin(method, path, body)
  local status, _, text = self:request(method, "/__admin/" .. path:gsub("^/+", ""):gsub("^__admin/", ""),
    { body = body and cjson.encode(body) or nil,
      headers = body and { ["Content-Type"] = "application/json" } or nil })
  if not status then error("admin " .. path .. ": " .. tostring(_), 2) end
  return helpers.json_decode(text), status
end

-- syntax: token = em:token(lifetime?)   a bearer token issued by the emulator
function Emulator:token(lifetime)
  local t = assert(self:admin("POST", "token", lifetime and { lifetime = lifetime } or {}))
  return t.access_token
end

function Emulator:settings(tbl)
  if tbl then return self:admin("POST", "settings", tbl) end
  return self:admin("GET", "settings")
end

function Emulator:reset() return self:admin("POST", "reset", {}) end
function Emulator:stats() return self:admin("GET", "stats") end
function Emulator:log() return self:admin("GET", "log") end
function Emulator:fail_next(t) return self:admin("POST", "fail-next", t) end

-- syntax: reg, status = em:add_registry(sub, rg, name)   /__admin/registries; reset drops it
function Emulator:add_registry(sub, rg, name)
  return self:admin("POST", "registries", { subscription = sub, resource_group = rg, name = name })
end

-- syntax: path = em:registry_path(sub?, rg?, reg?)   ARM path of a registry
function Emulator:registry_path(sub, rg, reg)
  return "/subscriptions/" .. (sub or helpers.DEFAULT_SUB)
    .. "/resourceGroups/" .. (rg or helpers.DEFAULT_RG)
    .. "/providers/Microsoft.ContainerRegistry/registries/" .. (reg or helpers.DEFAULT_REG)
end

-- syntax: status, headers, body, json = em:arm(method, path, opts?)
-- ARM call with a bearer token and api-version (unless opts.api_version == false
-- or the path already has a query); decodes the JSON body as a 4th result.
function Emulator:arm(method, path, opts)
  opts = opts or {}
  local o = {}
  for k, v in pairs(opts) do o[k] = v end
  o.headers = {}
  if opts.token ~= false then
    -- a day-long token of its own, so a short --token-lifetime does not expire it
    self._token = self._token or self:token(86400)
    o.headers.Authorization = "Bearer " .. (opts.token or self._token)
  end
  for k, v in pairs(opts.headers or {}) do o.headers[k] = v end
  if opts.api_version ~= false and not path:find("?", 1, true) then
    path = path .. "?api-version=" .. (opts.api_version or helpers.API_VERSION)
  end
  local status, headers, body = self:request(method, path, o)
  return status, headers, body, status and helpers.json_decode(body) or nil
end

---------------------------------------------------------------------------
-- ports and nginx servers of a spec's own
---------------------------------------------------------------------------

-- syntax: for port in helpers.candidate_ports() do ... end
-- Loopback ports to try for a server, in the range ACR_TEST_PORT_BASE ..
-- ACR_TEST_PORT_BASE + ACR_TEST_PORT_COUNT - 1 (100) when it is set (machines whose
-- firewall opens only some ports), else random ones in 20000-59999. The range is
-- walked once from a random place, so parallel specs rarely collide and a small
-- range is tried whole; without a range, 12 tries.
local seeded
function helpers.candidate_ports()
  local base = tonumber(os.getenv("ACR_TEST_PORT_BASE") or "")
  local count = tonumber(os.getenv("ACR_TEST_PORT_COUNT") or "") or 100
  if jit and not seeded then   -- LuaJIT starts every process with the same sequence
    seeded = true
    math.randomseed(os.time() + tonumber(own_pid()))
  end
  local i, tries, start = 0, 12, 0
  if base then
    tries = count
    start = math.random(0, count - 1)
  end
  return function()
    if i >= tries then return nil end
    i = i + 1
    if base then return base + (start + i - 1) % count end
    return math.random(20000, 59999)
  end
end

-- syntax: port = helpers.start_nginx{ dir =, conf =, vars =, probe =, on_port =, env = }
-- Starts nginx with `conf`, a template whose {{NAME}}s come from `vars` and from PREFIX
-- (dir), MODULES, ROOT, PORT and USER ("user root;" when root), on a port from
-- helpers.candidate_ports(); waits until GET `probe` (a path) answers. on_port(port),
-- if given, runs before each start, for files that must name the port; env is a
-- prefix for the command line, e.g. "env -u AZURE_CLIENT_SECRET". Stop it with
-- helpers.stop_nginx(dir).
-- What a spec's nginx.conf starts with, as {{HEAD}} (before `http {`) and {{HTTP_FILES}}
-- (inside it): the Lua module, one worker, every file under
-- the spec's own directory.
local NGINX_HEAD = [=[
load_module {{MODULES}}/ndk_http_module.so;
load_module {{MODULES}}/ngx_http_lua_module.so;
{{USER}}
worker_processes 1;
daemon on;
pid {{PREFIX}}/nginx.pid;
error_log {{PREFIX}}/logs/error.log info;
events { worker_connections 256; }]=]
local NGINX_HTTP_FILES = [=[
  access_log {{PREFIX}}/logs/access.log;
  client_body_temp_path {{PREFIX}}/tmp/body;
  proxy_temp_path {{PREFIX}}/tmp/proxy;
  fastcgi_temp_path {{PREFIX}}/tmp/fastcgi;
  uwsgi_temp_path {{PREFIX}}/tmp/uwsgi;
  scgi_temp_path {{PREFIX}}/tmp/scgi;]=]

function helpers.start_nginx(o)
  local dir = assert(o.dir, "start_nginx: dir")
  for _, d in ipairs { "logs", "tmp" } do helpers.sh("mkdir -p " .. q(dir .. "/" .. d)) end
  local user = helpers.sh("test $(id -u) = 0") and "user root;" or ""
  for port in helpers.candidate_ports() do
    local v = { PREFIX = dir, PORT = port, USER = user, ROOT = helpers.root,
                MODULES = os.getenv("ACR_EMULATOR_MODULES") or "/usr/share/nginx/modules" }
    for k, x in pairs(o.vars or {}) do v[k] = x end
    local conf = o.conf:gsub("{{HEAD}}", function() return NGINX_HEAD end)
      :gsub("{{HTTP_FILES}}", function() return NGINX_HTTP_FILES end)
    helpers.write_file(dir .. "/nginx.conf",
      (conf:gsub("{{([%u_]+)}}", function(k) return tostring(assert(v[k], k)) end)))
    if o.on_port then o.on_port(port) end
    local ok, out = helpers.sh((o.env and (o.env .. " ") or "") .. "nginx -p " .. q(dir) .. " -c "
                               .. q(dir .. "/nginx.conf") .. " -e " .. q(dir .. "/logs/error.log"))
    if ok then
      for _ = 1, 100 do
        if helpers.http("GET", "http://127.0.0.1:" .. port .. (o.probe or "/"), { timeout = 2 }) then
          return port
        end
        helpers.sh("sleep 0.05")
      end
      helpers.stop_nginx(dir)
      error("nginx did not answer; error log: " .. (helpers.read_file(dir .. "/logs/error.log") or ""), 2)
    elseif not out:find("in use", 1, true) then
      error("nginx failed to start: " .. out, 2)
    end
  end
  error("no free port for nginx", 2)
end

-- syntax: helpers.stop_nginx(dir)   stops the nginx started in dir and waits for it
function helpers.stop_nginx(dir)
  local pid = (helpers.read_file(dir .. "/nginx.pid") or ""):match("%d+")
  if pid then
    helpers.sh("kill " .. pid .. "; for i in $(seq 100); do kill -0 " .. pid
               .. " 2>/dev/null || break; sleep 0.02; done")
  end
end

-- syntax: reason = helpers.nginx_skip_reason()  -- why acr.resty specs cannot run here, or nil
-- acr.resty runs in nginx, whose Lua is LuaJIT; a sanitizer build cannot be loaded there.
function helpers.nginx_skip_reason()
  if os.getenv("ACR_FLAVOUR") ~= "luajit" then
    return "acr.resty runs in nginx, whose Lua is LuaJIT: this needs the LuaJIT build (ACR_FLAVOUR="
      .. tostring(os.getenv("ACR_FLAVOUR")) .. ")"
  end
end

return helpers
