#!/usr/bin/env lua5.4
-- cleanup-disabled.lua — delete every disabled token of a registry.
--
--   ACR_ACCESS_TOKEN=eyJ… lua5.4 examples/cleanup-disabled.lua --subscription SUB \
--       --resource-group RG --registry NAME [--endpoint URL] [--ca-file F] (--dry-run | --yes)
--
-- --dry-run lists what would go; --yes is required to delete. The deletes run
-- together as an acr.batch (16 in flight), so N long-running deletes take about as
-- long as N/16 of them, with a progress line on a terminal.
-- Scope maps are left alone: other tokens may use them.
--
-- Exit status: 0 success (also when there was nothing to delete), 1 a failed call
-- or a delete that failed, 2 usage.

package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local runbook = require "runbook"
local batch = require "acr.batch"

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

-- A progress line only on a terminal (luaposix's isatty where it is there).
local has_unistd, unistd = pcall(require, "posix.unistd")
local isatty = has_unistd and unistd.isatty and unistd.isatty(2) == 1 or false

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

-- The deletes run as one batch: at most WIDTH in flight, each started when a slot
-- frees (a job is a function, so nothing is sent before its turn), every wait driving
-- all of them. A failed delete is a value in the results, not a raise.
local WIDTH = 16
local t0 = now()
local jobs = {}
for i, name in ipairs(disabled) do
  jobs[i] = function() return client:begin_delete_token(name) end
end
print(("%s: started %d deletes, %d at a time"):format(PROG, #jobs, math.min(WIDTH, #jobs)))
local summary = batch.run(jobs, { width = WIDTH, on_done = function(_, _, _, b)
  local p = b:progress()
  if isatty and p.done < p.total then
    io.stderr:write(("\r%s: %d/%d done, %d failed, %d running"):format(PROG, p.done, p.total,
      p.failed, p.running))
  end
end })
if isatty then io.stderr:write("\r\27[K") end

local deleted, failed = 0, 0
for i, r in ipairs(summary.results) do
  if r.value then
    deleted = deleted + 1
    print(("  deleted %s (Succeeded)"):format(disabled[i]))
  else
    failed = failed + 1
    io.stderr:write(("%s: could not delete %s: %s\n"):format(PROG, disabled[i], tostring(r.err)))
  end
end
client:close()
print(("%s: %d deleted, %d failed, %d tokens left, in %.2f s"):format(PROG, deleted, failed,
  total - deleted, now() - t0))
os.exit(failed == 0 and 0 or 1)
