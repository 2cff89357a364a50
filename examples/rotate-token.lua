#!/usr/bin/env lua5.4
-- rotate-token.lua — a runbook for a pull-only registry token.
--
-- It creates a scope map that may pull one repository (content/read and
-- metadata/read), a token bound to it, generates password1 expiring in 30 days,
-- lists the registry's tokens, rotates password2, disables the token, and
-- finally deletes the token and the scope map again — also when a step in the
-- middle fails. Every step is said in a plain line as it happens.
--
--   ACR_ACCESS_TOKEN=eyJ… lua5.4 examples/rotate-token.lua \
--       --endpoint https://management.azure.com --subscription SUB \
--       --resource-group RG --registry NAME [--repository REPO] [--ca-file F]
--
-- The bearer token is read from ACR_ACCESS_TOKEN only: secrets are never taken as
-- arguments (they would show in `ps` and in shell history). Generated passwords
-- are printed masked unless --show-secrets is given.
--
-- Exit status: 0 success, 1 a failed step (the acr.Error is printed), 2 usage.

package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local runbook = require "runbook"

local PROG = "rotate-token"
local USAGE = [[
usage: rotate-token.lua --endpoint URL --subscription ID --resource-group RG --registry NAME
                        [--ca-file FILE] [--repository REPO] [--show-secrets] [--verbose]

  --endpoint URL         ARM endpoint (env ACR_ENDPOINT; default https://management.azure.com)
  --subscription ID      subscription id (env AZURE_SUBSCRIPTION_ID)
  --resource-group RG    resource group of the registry (env ACR_RESOURCE_GROUP)
  --registry NAME        registry name (env ACR_REGISTRY)
  --ca-file FILE         CA bundle for https (env ACR_CA_FILE)
  --repository REPO      repository the token may pull [hello-world]
  --show-secrets         print generated passwords in full (default: masked)
  --verbose              print every HTTP exchange (method, URL, status; never a secret)

The bearer token comes from the environment variable ACR_ACCESS_TOKEN.]]

---------------------------------------------------------------------------
-- command line
---------------------------------------------------------------------------

local opts = runbook.parse_args(arg, {
  prog = PROG, usage = USAGE,
  values = { repository = false }, flags = { "show-secrets", "verbose" },
  check = function(o)
    o.repository = o.repository or "hello-world"
    -- Repository names as the registry accepts them: lower-case path components.
    if #o.repository > 256 or not o.repository:match("^[a-z0-9]+[a-z0-9._/-]*$")
      or o.repository:find("[._/-][._/-]") or o.repository:find("[._/-]$") then
      runbook.usage_error("--repository '" .. o.repository .. "' is not a repository name "
        .. "(lower-case letters and digits, separated by '.', '_', '-' or '/')")
    end
  end,
})

---------------------------------------------------------------------------
-- helpers
---------------------------------------------------------------------------

local function say(fmt, ...)
  io.stdout:write(fmt:format(...), "\n")
  io.stdout:flush()
end

local function mask(secret)
  if opts["show-secrets"] then return secret end
  if type(secret) ~= "string" then return "(none)" end
  return secret:sub(1, 4) .. "… (" .. #secret .. " chars)"
end

-- Raise the acr.Error of a failed call, so the pcall below catches it whole.
local function check(v, err)
  if v == nil then error(err, 0) end
  return v
end

local function rfc3339(t)
  return os.date("!%Y-%m-%dT%H:%M:%SZ", t)
end

-- Names the service accepts: scope maps 5-50 of [A-Za-z0-9_-], tokens 5-50 of
-- [A-Za-z0-9-]. The UTC stamp keeps two runs from colliding.
local function resource_name(prefix, repo, stamp)
  local base = repo:gsub("[^%w]+", "-"):gsub("^%-+", ""):gsub("%-+$", "")
  local max = 50 - #prefix - 2 - #stamp
  if #base > max then base = base:sub(1, max):gsub("%-+$", "") end
  return prefix .. "-" .. base .. "-" .. stamp
end

---------------------------------------------------------------------------
-- the client
---------------------------------------------------------------------------

local exchanges = 0   -- HTTP exchanges since the last step began
local client = runbook.client(opts, {
  logger = function(level, msg)
    exchanges = exchanges + 1
    if opts.verbose then io.stdout:write("        ", level, ": ", msg, "\n") end
  end,
})

local step_no, STEPS = 0, 7
local function step(fmt, ...)
  step_no = step_no + 1
  exchanges = 0
  say("[%d/%d] " .. fmt, step_no, STEPS, ...)
end
-- The request count of the step is appended: it shows the LROs polling.
local function done(fmt, ...)
  local text = fmt:format(...)
  say("      ok: %s (%s)", text, exchanges == 1 and "1 request" or (exchanges .. " requests"))
end

---------------------------------------------------------------------------
-- the runbook
---------------------------------------------------------------------------

local stamp = os.date("!%Y%m%d%H%M%S")
local map_name = resource_name("pull", opts.repository, stamp)
local tok_name = resource_name("token", opts.repository, stamp)
local actions = {
  "repositories/" .. opts.repository .. "/content/read",
  "repositories/" .. opts.repository .. "/metadata/read",
}
-- What exists (or may exist: a create that failed half-way) and must go at the end.
local made = { scope_map = false, token = false }

say("%s: registry %s in resource group %s at %s", PROG, opts.registry, opts["resource-group"],
  client:endpoint())

local function run()
  step("create scope map %s: pull %s (content/read, metadata/read)", map_name, opts.repository)
  made.scope_map = true
  local sm = check(client:create_scope_map(map_name, {
    actions = actions, description = "pull " .. opts.repository .. " (" .. PROG .. ")" }))
  done("%s, %d actions, provisioning %s", sm.name, #sm.actions, sm.provisioning_state)

  step("create token %s bound to scope map %s", tok_name, sm.name)
  made.token = true
  local tok = check(client:create_token(tok_name, { scope_map = sm, status = "enabled" }))
  done("%s is %s, provisioning %s", tok.name, tok.status, tok.provisioning_state)

  local expiry = rfc3339(os.time() + 30 * 24 * 3600)
  step("generate password1 expiring %s", expiry)
  local creds = check(tok:generate_credentials { name = "password1", expiry = expiry })
  for _, p in ipairs(creds.passwords or {}) do
    done("user %s, %s = %s, expires %s", creds.username, p.name, mask(p.value),
      p.expiry or "never")
  end

  step("list the registry's tokens")
  local count, shown = 0, 0
  for t in client:tokens() do
    count = count + 1
    if shown < 20 or t.name == tok_name then
      shown = shown + 1
      say("        %-40s %s", t.name, t.name == tok_name and ("%-8s  <- this run"):format(t.status or "?")
        or (t.status or "?"))
    end
  end
  if count > shown then say("        … and %d more", count - shown) end
  done("%d token%s", count, count == 1 and "" or "s")

  step("rotate password2 (password1 stays valid)")
  creds = check(tok:generate_credentials { name = "password2", expiry = expiry })
  for _, p in ipairs(creds.passwords or {}) do
    done("user %s, %s = %s, expires %s", creds.username, p.name, mask(p.value),
      p.expiry or "never")
  end
  check(tok:refresh())
  for _, p in ipairs((tok.credentials or {}).passwords or {}) do
    say("        on record: %s created %s, expires %s", p.name, p.creation_time or "?",
      p.expiry or "never")
  end

  step("disable token %s", tok.name)
  check(tok:disable())
  done("%s is %s", tok.name, tok.status)
end

local ran, failure = pcall(run)
if not ran then
  io.stderr:write(PROG, ": step ", step_no, " failed: ", tostring(failure), "\n")
end

-- Clean up whatever this run made, whether or not every step passed. A DELETE of
-- something already gone succeeds (204), so a create that never happened is harmless.
local cleanup_failed = false
step_no = STEPS - 1
step("clean up: delete token %s and scope map %s", tok_name, map_name)
local function remove(what, fn, name)
  local okc, res, err = pcall(fn, client, name)
  if okc and res then
    say("      deleted %s %s", what, name)
  else
    cleanup_failed = true
    io.stderr:write(PROG, ": could not delete ", what, " ", name, ": ",
      tostring(okc and err or res), "\n")
  end
end
if made.token then remove("token", client.delete_token, tok_name) end
if made.scope_map then remove("scope map", client.delete_scope_map, map_name) end
if not cleanup_failed then done("nothing left behind") end

client:close()
if not ran or cleanup_failed then
  say("%s: FAILED", PROG)
  os.exit(1)
end
say("%s: all steps passed", PROG)
os.exit(0)
