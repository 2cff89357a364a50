#!/usr/bin/env lua5.4
-- cleanup-disabled.lua — delete every disabled token of a registry.
--
--   ACR_ACCESS_TOKEN=eyJ… lua5.4 examples/cleanup-disabled.lua --subscription SUB \
--       --resource-group RG --registry NAME [--endpoint URL] [--ca-file F] (--dry-run | --yes)
--
-- --dry-run lists what would go; --yes is required to delete. The deletes are
-- started together with client:begin_delete_token() — each returns an
-- acr.Operation as soon as its first request is answered — and then driven
-- together with op:poll(), so N long-running deletes take about as long as one.
-- Scope maps are left alone: other tokens may use them.
--
-- Exit status: 0 success (also when there was nothing to delete), 1 a failed call
-- or a delete that failed, 2 usage.

package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local runbook = require "runbook"

local PROG = "cleanup-disabled"
local USAGE = [[
usage: cleanup-disabled.lua --subscription ID --resource-group RG --registry NAME
                            [--endpoint URL] [--ca-file FILE] (--dry-run | --yes)

  --endpoint URL         ARM endpoint (env ACR_ENDPOINT; default https://management.azure.com)
  --subscription ID      subscription id (env AZURE_SUBSCRIPTION_ID)
  --resource-group RG    resource group of the registry (env ACR_RESOURCE_GROUP)
  --registry NAME        registry name (env ACR_REGISTRY)
  --ca-file FILE         CA bundle for https (env ACR_CA_FILE)
  --dry-run              list the disabled tokens, delete nothing
  --yes                  delete them (required: there is no undo)

The bearer token comes from the environment variable ACR_ACCESS_TOKEN.]]

---------------------------------------------------------------------------
-- command line
---------------------------------------------------------------------------

local opts = runbook.parse_args(arg, {
  prog = PROG, usage = USAGE,
  flags = { "dry-run", "yes" },
  check = function(o)
    if o["dry-run"] and o.yes then runbook.usage_error("--dry-run and --yes exclude each other") end
    if not o["dry-run"] and not o.yes then
      runbook.usage_error("say --dry-run to list the disabled tokens, or --yes to delete them")
    end
  end,
})

-- Wall-clock seconds with sub-second precision where luasystem is there.
local has_system, system = pcall(require, "system")
local function now()
  if has_system and system.monotime then return system.monotime() end
  return os.time()
end

---------------------------------------------------------------------------
-- the cleanup
---------------------------------------------------------------------------

local client = runbook.client(opts)

-- First the whole list (names only), then the deletes: deleting while the pager
-- is still walking would shift the service's pages under it.
local disabled, total = {}, 0
local listed, err = pcall(function()
  for tok in client:tokens() do
    total = total + 1
    if tok.status == "disabled" then disabled[#disabled + 1] = tok.name end
  end
end)
if not listed then runbook.fail(err, client) end
print(("%s: registry %s has %d tokens, %d of them disabled"):format(PROG, opts.registry, total,
  #disabled))
for _, name in ipairs(disabled) do print("  " .. name) end

if opts["dry-run"] then
  print(("%s: dry run: %d token%s would be deleted, nothing was"):format(PROG, #disabled,
    #disabled == 1 and "" or "s"))
  client:close()
  os.exit(0)
end
if #disabled == 0 then
  print(PROG .. ": nothing to delete")
  client:close()
  os.exit(0)
end

-- Start every delete: each begin_delete_token sends its DELETE and returns the
-- acr.Operation without waiting for the long-running part.
local t0 = now()
local ops = {}
for i, name in ipairs(disabled) do
  ops[i] = client:begin_delete_token(name)
end
local running = 0
for _, op in ipairs(ops) do
  if not op:done() then running = running + 1 end
end
print(("%s: started %d deletes in %.2f s (%d still running)"):format(PROG, #ops, now() - t0,
  running))

-- Then drive them all: poll() sends a request for each operation that is due and
-- never sleeps; when none is due, wait up to the soonest one's delay() — wait(s)
-- sleeps until that operation is due, sends its poll and returns. N long-running
-- deletes so take about as long as one.
while true do
  local soonest
  for _, op in ipairs(ops) do
    if not op:done() then
      op:poll()
      if not op:done() and (not soonest or op:delay() < soonest:delay()) then soonest = op end
    end
  end
  if not soonest then break end
  soonest:wait(soonest:delay())
end

local deleted, failed = 0, 0
for i, op in ipairs(ops) do
  local gone, derr = op:result()   -- done: returns at once
  if gone then
    deleted = deleted + 1
    print(("  deleted %s (%s)"):format(disabled[i], op:status()))
  else
    failed = failed + 1
    io.stderr:write(("%s: could not delete %s: %s\n"):format(PROG, disabled[i], tostring(derr)))
  end
end
client:close()
print(("%s: %d deleted, %d failed, %d tokens left, in %.2f s"):format(PROG, deleted, failed,
  total - deleted, now() - t0))
os.exit(failed == 0 and 0 or 1)
