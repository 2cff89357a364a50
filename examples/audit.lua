#!/usr/bin/env lua5.4
-- audit.lua — every token of a registry with what it may do and when its
-- passwords expire, as an aligned text table (or JSON with --json).
--
--   ACR_ACCESS_TOKEN=eyJ… lua5.4 examples/audit.lua --subscription SUB \
--       --resource-group RG --registry NAME [--endpoint URL] [--ca-file F] [--json]
--
-- Tokens come from the lazy pager (`for tok in client:tokens()`); then the scope
-- maps they name are fetched once each, 16 at a time, as an acr.batch, however
-- many tokens share one. Password values are never listed by the service, only
-- their names and expiries.
--
-- Exit status: 0 success, 1 a failed call (the acr.Error is printed), 2 usage.

package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local runbook = require "runbook"
local batch = require "acr.batch"

local PROG = "audit"
local USAGE = [[
usage: audit.lua --subscription ID --resource-group RG --registry NAME
                 [--endpoint URL] [--ca-file FILE] [--json] [--warn-days N]

  --endpoint URL         ARM endpoint (env ACR_ENDPOINT; default https://management.azure.com)
  --subscription ID      subscription id (env AZURE_SUBSCRIPTION_ID)
  --resource-group RG    resource group of the registry (env ACR_RESOURCE_GROUP)
  --registry NAME        registry name (env ACR_REGISTRY)
  --ca-file FILE         CA bundle for https (env ACR_CA_FILE)
  --json                 print JSON instead of a table
  --warn-days N          flag passwords expiring within N days [30]

The bearer token comes from the environment variable ACR_ACCESS_TOKEN.]]

---------------------------------------------------------------------------
-- command line
---------------------------------------------------------------------------

local opts = runbook.parse_args(arg, {
  prog = PROG, usage = USAGE,
  values = { ["warn-days"] = false }, flags = { "json" },
  check = function(o)
    local days = tonumber(o["warn-days"] or "30")
    if not days or days < 0 then runbook.usage_error("--warn-days must be a number of days >= 0") end
    o["warn-days"] = days
  end,
})

---------------------------------------------------------------------------
-- helpers
---------------------------------------------------------------------------

-- Seconds since the epoch of an RFC 3339 time, without os.time's local-time conversion.
local epoch = require("acr.time").epoch

-- JSON through the project's one writer (acr.json): sorted keys and [] for the empty
-- lists marked as arrays, so the output is stable and diffable from one run to the next.
local acr_json = require "acr.json"
local array = acr_json.array

---------------------------------------------------------------------------
-- the audit
---------------------------------------------------------------------------

local client = runbook.client(opts)

local now = os.time()
local warn_after = now + opts["warn-days"] * 86400

-- Scope maps by lower-cased id (ARM ids compare case-insensitively), fetched once
-- each, all together as an acr.batch after the listing. A scope map that is gone is
-- kept as false, with the error's code.
local scope_maps, fetched, missing_code = {}, 0, {}

local function fetch_scope_maps(toks)
  local keys, jobs = {}, {}
  for _, tok in ipairs(toks) do
    local id = tok.scope_map_id
    local key = id and id:lower()
    if key and scope_maps[key] == nil then
      scope_maps[key] = false
      local name = id:match("/[sS][cC][oO][pP][eE][mM][aA][pP][sS]/([^/]+)$")
      keys[#keys + 1] = key
      -- prepare() checks the name against the API's rules; a bad one fails this job
      jobs[#jobs + 1] = function() return client:prepare("get_scope_map", name or "") end
    end
  end
  local summary = batch.run(jobs, { width = 16 })
  fetched = #jobs
  for i, r in ipairs(summary.results) do
    local err = r.err
    if r.value then
      scope_maps[keys[i]] = r.value
    elseif type(err) == "table" and err.status == 404 then
      missing_code[keys[i]] = err.code
    else
      error(err, 0)
    end
  end
end

local function scope_map_of(tok)
  local id = tok.scope_map_id
  if not id then return nil, "none" end
  local key = id:lower()
  local sm = scope_maps[key]
  if sm == false then return nil, "missing (" .. (missing_code[key] or "?") .. ")" end
  return sm
end

local function password_rows(tok)
  local list = array {}
  local creds = tok.credentials
  for _, p in ipairs(creds and creds.passwords or {}) do
    local exp = epoch(p.expiry)
    local state
    if not p.expiry then state = "never expires"
    elseif not exp then state = "unreadable expiry"
    elseif exp <= now then state = "EXPIRED"
    elseif exp <= warn_after then state = "expires soon"
    else state = "valid" end
    list[#list + 1] = {
      name = p.name, expiry = p.expiry, creation_time = p.creation_time, state = state,
      days_left = exp and math.floor((exp - now) / 86400) or nil,
    }
  end
  return list
end

local tokens = {}
local counts = { enabled = 0, disabled = 0, expired = 0, soon = 0 }
local ran, failure = pcall(function()
  local listed = {}
  for tok in client:tokens() do listed[#listed + 1] = tok end
  fetch_scope_maps(listed)
  for _, tok in ipairs(listed) do
    local sm, why = scope_map_of(tok)
    local pw = password_rows(tok)
    for _, p in ipairs(pw) do
      if p.state == "EXPIRED" then counts.expired = counts.expired + 1 end
      if p.state == "expires soon" then counts.soon = counts.soon + 1 end
    end
    counts[tok.status] = (counts[tok.status] or 0) + 1
    tokens[#tokens + 1] = {
      name = tok.name, status = tok.status, creation_date = tok.creation_date,
      scope_map = sm and sm.name or nil, scope_map_problem = why, scope_map_id = tok.scope_map_id,
      actions = array(sm and sm.actions or {}), passwords = pw,
    }
  end
end)
if not ran then runbook.fail(failure, client) end
client:close()

if opts.json then
  io.stdout:write(acr_json.encode({
    registry = opts.registry, resource_group = opts["resource-group"],
    generated = os.date("!%Y-%m-%dT%H:%M:%SZ", now), tokens = array(tokens),
    scope_maps_fetched = fetched,
  }, { sort = true }), "\n")
  os.exit(0)
end

-- The text table: one line per action or password, the token's own columns on
-- its first line only.
local header = { "TOKEN", "STATUS", "SCOPE MAP", "ACTIONS", "PASSWORDS" }
local lines = {}
for _, t in ipairs(tokens) do
  local pw = {}
  for i, p in ipairs(t.passwords) do
    local left = p.days_left and (p.days_left >= 0 and (", " .. p.days_left .. " d left") or "") or ""
    pw[i] = ("%s %s (%s%s)"):format(p.name, p.expiry or "-", p.state, left)
  end
  if #pw == 0 then pw[1] = "none" end
  local acts = #t.actions > 0 and t.actions or { "-" }
  for i = 1, math.max(#acts, #pw) do
    lines[#lines + 1] = {
      i == 1 and t.name or "", i == 1 and (t.status or "?") or "",
      i == 1 and (t.scope_map or t.scope_map_problem) or "",
      acts[i] or "", pw[i] or "",
    }
  end
end
local width = {}
for c, h in ipairs(header) do width[c] = #h end
for _, l in ipairs(lines) do
  for c, v in ipairs(l) do
    local n = #v:gsub("[\128-\191]", "")  -- count UTF-8 characters, not bytes
    if n > width[c] then width[c] = n end
  end
end
local function row(cells)
  local out = {}
  for c, v in ipairs(cells) do
    local pad = width[c] - #v:gsub("[\128-\191]", "")
    out[c] = c < #cells and (v .. (" "):rep(pad)) or v
  end
  print((table.concat(out, "  "):gsub("%s+$", "")))
end
row(header)
local rule = {}
for c = 1, #header do rule[c] = ("-"):rep(width[c]) end
row(rule)
for _, l in ipairs(lines) do row(l) end
print(("%d tokens (%d enabled, %d disabled); %d passwords expired, %d expire within %d days; "
  .. "%d scope maps fetched"):format(#tokens, counts.enabled, counts.disabled, counts.expired,
  counts.soon, opts["warn-days"], fetched))
os.exit(0)
