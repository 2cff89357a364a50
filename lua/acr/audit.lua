-- acr.audit — every token of every registry of some subscriptions, with what it may do
-- and when its passwords expire, and what is wrong with it. Blocking (the libcurl
-- driver).
--
--   local audit = require "acr.audit"
--   local report = audit.run{
--     subscriptions = { "11111111-1111-1111-1111-111111111111" },
--     client = function(where)   -- { subscription=, resource_group=?, registry=? }
--       return acr.client{ subscription_id = where.subscription, credential = cred,
--         resource_group = where.resource_group or "none", registry = where.registry or "noregistry" }
--     end,
--     warn_days = 30, max_repositories = 10, width = 16,
--   }
--   for _, row in ipairs(report.rows) do print(row.registry, row.token, table.concat(row.flags, ",")) end
--
-- The registries are found in ARM's list of each subscription, every page; each one's
-- tokens and scope maps are listed, page by page, all as one acr.batch of page GETs
-- (pager:next_operation), at most `width` in flight. Password values are never listed
-- by ARM, so none is ever in hand here.

local batch = require "acr.batch"
local check = require "acr.check"
local json = require "acr.json"
local time = require "acr.time"

local _M = { _VERSION = "0.1.0" }

local array, object = json.array, json.object

local REGISTRY_TYPE = "Microsoft.ContainerRegistry/registries"
local REGISTRY_API = "2019-05-01"   -- the registry list's api-version (lookup's too)

-- The flags of a row, in the order a row lists them.
_M.FLAGS = { "audit_failed", "expired", "expires_soon", "never_expires", "unreadable_expiry",
  "no_password", "disabled_with_live_passwords", "missing_scope_map", "wildcard_scope",
  "broad_scope" }
local FLAG_RANK = {}
for i, f in ipairs(_M.FLAGS) do FLAG_RANK[f] = i end

-- The key order of a row and of a password slot (for -o table after --query, and tsv).
local ROW_KEYS = { "subscription", "resource_group", "registry", "token", "status", "scope_map",
  "scope_map_id", "actions", "repositories", "passwords", "creation_date", "flags", "error" }
local SLOT_KEYS = { "name", "creation_time", "expiry", "state", "days_left" }
local ERROR_KEYS = { "code", "message", "status", "request_id" }

---------------------------------------------------------------------------
-- what ARM answers: checked before it names anything
---------------------------------------------------------------------------

local function is_sub(s)
  return type(s) == "string" and #s >= 1 and #s <= 64 and s:find("^[%w%-]+$") ~= nil
end

local function is_registry_name(s)
  return type(s) == "string" and #s >= 5 and #s <= 50 and s:find("^%w+$") ~= nil
end

-- ARM's rule for a resource group (the module's): 1 to 90 of ASCII letters, digits,
-- - _ . ( ), not ending in '.'.
local function is_group(s)
  return #s >= 1 and #s <= 90 and s:find("^[%w%-_%.%(%)]+$") ~= nil and s:sub(-1) ~= "."
end

local FIXED = { [2] = "subscriptions", [4] = "resourcegroups", [6] = "providers",
  [7] = "microsoft.containerregistry", [8] = "registries" }

-- syntax: sub, rg, name = audit.registry_id(id)  -- the parts of a registry's ARM id, or nil
-- The id must be exactly /subscriptions/SUB/resourceGroups/RG/providers/
-- Microsoft.ContainerRegistry/registries/NAME (fixed segments in any case), each part
-- by ARM's rules, as it will name the registry in the URLs of its requests.
function _M.registry_id(id)
  if type(id) ~= "string" or id:sub(1, 1) ~= "/" or #id > 512 then return nil end
  local p = {}
  for seg in (id .. "/"):gmatch("([^/]*)/") do p[#p + 1] = seg end
  if #p ~= 9 or p[1] ~= "" then return nil end
  for i, want in pairs(FIXED) do
    if p[i]:lower() ~= want then return nil end
  end
  if not is_sub(p[3]) or not is_group(p[5]) or not is_registry_name(p[9]) then return nil end
  return p[3], p[5], p[9]
end

-- An acr.Error (or whatever was raised) as a row's error: its code, message, status and
-- request id; never more (an error carries no secret, and the rest is noise here).
local function error_of(e)
  if type(e) == "table" then
    return object({ code = tostring(e.code or "Error"), message = tostring(e.message or ""),
      status = tonumber(e.status), request_id = type(e.request_id) == "string" and e.request_id
      or nil }, ERROR_KEYS)
  end
  return object({ code = "Error", message = tostring(e) }, ERROR_KEYS)
end

local function str(v) return type(v) == "string" and v or nil end

---------------------------------------------------------------------------
-- a token's row
---------------------------------------------------------------------------

-- The repository of a scope map action (repositories/REPO/content/read), or nil for a
-- gateway's.
local function repository_of(action)
  return type(action) == "string" and action:match("^repositories/(.+)/[^/]+/[^/]+$") or nil
end

-- A password slot as the row shows it, and its state by the expiry.
local function slot(p, st)
  local exp = p.expiry
  local t = exp ~= nil and time.epoch(exp) or nil
  local state
  if exp == nil then state = "never_expires"
  elseif not t then state = "unreadable"
  elseif t <= st.now then state = "expired"
  elseif t <= st.now + st.warn then state = "expires_soon"
  else state = "valid" end
  return object({ name = str(p.name), creation_time = str(p.creation_time), expiry = str(exp),
    state = state, days_left = t and math.floor((t - st.now) / 86400) or nil }, SLOT_KEYS)
end

local SLOT_FLAG = { expired = "expired", expires_soon = "expires_soon",
  never_expires = "never_expires", unreadable = "unreadable_expiry" }

-- The flags of a token's row, in FLAGS' order.
local function flags_of(st, row, has_map)
  local set = {}
  local live = false
  for _, p in ipairs(row.passwords) do
    if SLOT_FLAG[p.state] then set[SLOT_FLAG[p.state]] = true end
    if p.state ~= "expired" then live = true end
  end
  if #row.passwords == 0 then set.no_password = true end
  if type(row.status) == "string" and row.status:lower() == "disabled" and live then
    set.disabled_with_live_passwords = true
  end
  if not has_map then set.missing_scope_map = true end
  for _, r in ipairs(row.repositories) do
    if r:find("*", 1, true) then set.wildcard_scope = true end
  end
  if #row.repositories > st.max_repositories then set.broad_scope = true end
  local flags = array {}
  for _, f in ipairs(_M.FLAGS) do if set[f] then flags[#flags + 1] = f end end
  return flags
end

-- The row of token tok (an acr.Token) of registry reg, whose scope maps are by
-- lower-cased id (ARM ids compare case-insensitively).
local function token_row(st, reg, tok)
  local sm_id = str(tok.scope_map_id)
  local sm = sm_id and reg.maps[sm_id:lower()]
  local actions, repos, seen = array {}, array {}, {}
  for _, a in ipairs(sm and type(sm.actions) == "table" and sm.actions or {}) do
    actions[#actions + 1] = a
    local r = repository_of(a)
    if r and not seen[r] then seen[r] = true; repos[#repos + 1] = r end
  end
  table.sort(repos)
  local passwords = array {}
  local creds = tok.credentials
  for _, p in ipairs(type(creds) == "table" and type(creds.passwords) == "table" and creds.passwords or {}) do
    if type(p) == "table" then passwords[#passwords + 1] = slot(p, st) end
  end
  table.sort(passwords, function(a, b) return (a.name or "") < (b.name or "") end)
  local row = object({ subscription = reg.subscription, resource_group = reg.resource_group,
    registry = reg.name, token = str(tok.name), status = str(tok.status),
    scope_map = sm and str(sm.name) or (sm_id and sm_id:match("[^/]+$")), scope_map_id = sm_id,
    actions = actions, repositories = repos, passwords = passwords,
    creation_date = str(tok.creation_date) }, ROW_KEYS)
  row.flags = flags_of(st, row, sm ~= nil)
  return row
end

-- A registry (or a subscription's list: where has no registry) that could not be audited.
local function failure_row(st, where, err)
  st.failed = st.failed + 1
  st.rows[#st.rows + 1] = object({ subscription = where.subscription,
    resource_group = where.resource_group, registry = where.registry,
    flags = array { "audit_failed" }, error = error_of(err) }, ROW_KEYS)
end

---------------------------------------------------------------------------
-- listings, page by page, as jobs of one batch
---------------------------------------------------------------------------

-- Adds the GET of the next page of a listing to the batch. l: { pager=, item=fn, done=fn,
-- fail=fn, stop=fn? (true: no more pages are wanted) }. first: the page follows one
-- just taken, and takes the slot it freed, so a registry's listings end soon and its
-- client is closed.
local function next_page(st, l, first)
  if l.stop and l.stop() then return l.done() end
  local ok, op, err = pcall(l.pager.next_operation, l.pager)
  if not ok then return l.fail(op) end
  if not op then
    if err then return l.fail(err) end
    return l.done()
  end
  st.jobs[st.batch:add(op, first)] = { l = l, op = op }
end

-- A listing's first job found that no page is wanted any more.
local STOPPED = {}

-- on_done of the batch: the page of job i taken into its listing; or, for a listing's
-- first job that made no GET, its failure (or that it was not wanted).
local function took(st, i, value, err)
  local job = st.jobs[i]
  st.jobs[i] = nil
  local l = job.l
  if not job.op then
    if value == STOPPED then return l.done() end
    return l.fail(err)
  end
  local ok, items, terr = pcall(l.pager.take, l.pager, job.op)
  if not ok then return l.fail(items) end
  if not items then return l.fail(terr) end
  for _, item in ipairs(items) do l.item(item) end
  next_page(st, l, true)
end

-- Starts a listing: pager_of() gives its pager, called when the batch has a slot for
-- it (a client made then opens its connection then, not before).
local function start_listing(st, l, pager_of)
  local job = { l = l }
  st.jobs[st.batch:add(function()
    if l.stop and l.stop() then return STOPPED end
    local ok, pager, err = pcall(pager_of)
    if not ok or not pager then return nil, ok and err or pager end
    l.pager = pager
    local op, oerr = pager:next_operation()
    if not op then return nil, oerr or "the listing has no first page" end
    job.op = op
    return op
  end)] = job
end

---------------------------------------------------------------------------
-- a registry: its tokens and scope maps, then its rows
---------------------------------------------------------------------------

local function close(c)
  if c then pcall(c.close, c) end
end

-- A client from the caller's function, kept in st.clients so that none is left open
-- if the run raises half-way.
local function made(st, where)
  local c, err = st.make(where)
  if not c then error(err or "the client function returned no client", 0) end
  st.clients[#st.clients + 1] = c
  return c
end

-- The client of registry reg, made once (by the first of its listings to start).
local function client_of(st, reg)
  if not reg.client then
    reg.client = made(st, { subscription = reg.subscription, resource_group = reg.resource_group,
      registry = reg.name })
  end
  return reg.client
end

-- Both listings of reg have ended: its rows (or its failure), and its client closed.
local function registry_done(st, reg)
  close(reg.client)
  reg.client = nil
  if reg.err then
    return failure_row(st, { subscription = reg.subscription, resource_group = reg.resource_group,
      registry = reg.name }, reg.err)
  end
  st.registries = st.registries + 1
  for _, tok in ipairs(reg.tokens) do st.rows[#st.rows + 1] = token_row(st, reg, tok) end
end

local function audit_registry(st, reg)
  reg.tokens, reg.maps, reg.open = {}, {}, 2
  local function listing(item, method)
    return start_listing(st, {
      item = item,
      stop = function() return reg.err ~= nil end,   -- the other listing failed
      done = function()
        reg.open = reg.open - 1
        if reg.open == 0 then registry_done(st, reg) end
      end,
      fail = function(err)
        reg.err = reg.err or err
        reg.open = reg.open - 1
        if reg.open == 0 then registry_done(st, reg) end
      end,
    }, function() local c = client_of(st, reg); return c[method](c) end)
  end
  listing(function(tok) reg.tokens[#reg.tokens + 1] = tok end, "tokens")
  listing(function(sm)
    local id = str(sm.id)
    if id then reg.maps[id:lower()] = sm end
  end, "scope_maps")
end

---------------------------------------------------------------------------
-- a subscription: its registries
---------------------------------------------------------------------------

-- An item of the registry list of sub: a registry to audit, or a failure row when its
-- id or name is not one (nothing is sent for it).
local function found_registry(st, sub, item, n)
  local id = type(item) == "table" and item.id
  local isub, rg, name = _M.registry_id(id)
  if not isub or isub:lower() ~= sub:lower() or type(item.name) ~= "string"
    or item.name:lower() ~= name:lower() then
    return failure_row(st, { subscription = sub }, { code = "InvalidResponse",
      message = ("item %d of the registry list of subscription %s is not a registry of it "
        .. "(its id or name is not ARM's)"):format(n, sub) })
  end
  local key = id:lower()
  if st.seen[key] then return end   -- listed twice (a list that changed between pages)
  st.seen[key] = true
  audit_registry(st, { subscription = sub, resource_group = rg, name = name })
end

local function audit_subscription(st, sub)
  local c, n = nil, 0
  start_listing(st, {
    item = function(item)
      n = n + 1
      found_registry(st, sub, item, n)
    end,
    done = function() close(c) end,
    fail = function(err)
      close(c)
      failure_row(st, { subscription = sub }, err)
    end,
  }, function()
    c = made(st, { subscription = sub })
    return c:pages("/subscriptions/" .. sub .. "/providers/" .. REGISTRY_TYPE,
      { api_version = REGISTRY_API })
  end)
end

---------------------------------------------------------------------------
-- the report
---------------------------------------------------------------------------

local function lower(s) return s and s:lower() or "" end

-- Rows that could not be audited, then those with flags, then the rest; then by
-- registry, subscription and resource group, then by token name.
local function before(a, b)
  local ra = a.error and 0 or (#a.flags > 0 and 1 or 2)
  local rb = b.error and 0 or (#b.flags > 0 and 1 or 2)
  if ra ~= rb then return ra < rb end
  for _, k in ipairs { "registry", "subscription", "resource_group", "token" } do
    local x, y = lower(a[k]), lower(b[k])
    if x ~= y then return x < y end
  end
  return (a.token or "") < (b.token or "")
end

local OPTIONS = { subscriptions = "table", client = "function", warn_days = "number",
  max_repositories = "number", width = "number", now = "number" }

-- The options checked (misuse raises, naming the option) and the subscriptions, once each.
local function checked(opts)
  local fname = "acr.audit.run"
  if type(opts) ~= "table" then check.typeerror(fname, 1, "table of options", opts, 2) end
  check.options(fname, 1, opts, OPTIONS, 2)
  if not opts.client then check.opterror(fname, 1, "client", "is required", 2) end
  if not opts.subscriptions then check.opterror(fname, 1, "subscriptions", "is required", 2) end
  local subs, seen = {}, {}
  for i, s in ipairs(opts.subscriptions) do
    if not is_sub(s) then
      check.opterror(fname, 1, "subscriptions", ("item %d is not a subscription id"):format(i), 2)
    end
    if not seen[s:lower()] then seen[s:lower()] = true; subs[#subs + 1] = s end
  end
  check.whole(fname, 1, opts, "warn_days", 0, 36500, 2)
  check.whole(fname, 1, opts, "max_repositories", 0, 1000000, 2)
  check.whole(fname, 1, opts, "width", 1, 100000, 2)
  return subs
end

-- syntax: report = audit.run{subscriptions=, client=, warn_days=30, max_repositories=10, width=16, now=?}
-- report = { rows = {…}, registries = n (audited), failed = n (rows that could not be),
--   subscriptions = {…}, now = epoch, warn_days =, max_repositories = }
function _M.run(opts)
  local subs = checked(opts)
  local st = {
    make = opts.client, now = opts.now or os.time(), warn = (opts.warn_days or 30) * 86400,
    max_repositories = opts.max_repositories or 10, rows = {}, jobs = {}, seen = {},
    clients = {}, registries = 0, failed = 0,
  }
  st.batch = batch.new({}, { width = opts.width or 16,
    on_done = function(i, value, err) took(st, i, value, err) end })
  local ok, err = pcall(function()
    for _, sub in ipairs(subs) do audit_subscription(st, sub) end
    for _ in st.batch:results() do end
  end)
  for _, c in ipairs(st.clients) do close(c) end   -- closed already, unless it raised
  if not ok then error(err, 0) end
  table.sort(st.rows, before)
  return { rows = array(st.rows), registries = st.registries, failed = st.failed,
    subscriptions = array(subs), now = st.now, warn_days = st.warn / 86400,
    max_repositories = st.max_repositories }
end

return _M
