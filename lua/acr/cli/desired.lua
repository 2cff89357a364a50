-- acr.cli.desired — `acr plan` and `acr apply`: a desired-state file (docs/DESIRED.md)
-- against what ARM has, through one client per registry of the file.
--
-- Exit status: 0 all done (or nothing to do), 1 some changes failed (each is listed on
-- stderr), 2 usage or an invalid file. Generated passwords go to the sink only; they are
-- printed only with --show-secrets.
local commands = require "acr.cli.commands"
local config = require "acr.cli.config"
local desired = require "acr.desired"
local fail = require "acr.cli.fail"
local output = require "acr.cli.output"
local prompt = require "acr.cli.prompt"
local render = require "acr.desired.render"

local printable = fail.printable

local _M = {}

local VALUE = { kind = "value" }
local FLAG = { kind = "flag" }

local SINK_HELP = [[
      --secrets-dir DIR     deliver new passwords as files DIR/<registry>/<token>.<slot>.json
                            (mode 0600, written atomically); its ledger is DIR/.acr-ledger.json
      --secrets-exec CMD    deliver them to a program: CMD split at blanks, run with no shell,
                            given the JSON on stdin; exit 0 means delivered
      --secrets-timeout S   how long the program may take [60]
      --ledger FILE         where deliveries are recorded (no secret is in it) [the sink's:
                            DIR/.acr-ledger.json, or $XDG_STATE_HOME/acr/ledger.json]
]]

local function words(s)
  local out = {}
  for w in s:gmatch("%S+") do out[#out + 1] = w end
  return out
end

local function state_home()
  local x = os.getenv("XDG_STATE_HOME")
  if x and x ~= "" then return x end
  local home = os.getenv("HOME")
  return home and home ~= "" and (home .. "/.local/state") or nil
end

-- The sink and ledger the options name (none: rotations fail as NoSink).
-- A sink or ledger that could not be opened (a directory that cannot be made, a ledger
-- another run holds): exit 1, said in its words.
local function opened(v, err)
  if v == nil then fail.failure(printable(tostring(type(err) == "table" and err.message or err))) end
  return v
end

local function sink_of(o, cmd)
  if o["secrets-dir"] and o["secrets-exec"] then
    fail.usage("give --secrets-dir or --secrets-exec, not both", cmd)
  end
  local timeout = tonumber(o["secrets-timeout"] or "60")
  if not timeout or timeout <= 0 then fail.usage("--secrets-timeout must be a number of seconds > 0", cmd) end
  if o["secrets-timeout"] and not o["secrets-exec"] then
    fail.usage("--secrets-timeout is the time of --secrets-exec's program: give that too", cmd)
  end
  if o["secrets-dir"] then
    local s = opened(fail.guarded(desired.sink.dir, o["secrets-dir"], o.ledger and { ledger = o.ledger } or nil))
    return s, s.ledger
  end
  -- a program keeps no record: the ledger is a file of ours
  local path = o.ledger
  if not path then
    local home = state_home()
    path = home and (home .. "/acr/ledger.json")
  end
  if not o["secrets-exec"] then
    -- what was delivered decides retirements and repairs: say whose record this is
    output.warn(o, "no --secrets-dir or --secrets-exec: the deliveries recorded in "
      .. (path or "no ledger (no HOME)") .. " decide what is retired and repaired; give the "
      .. "sink options of your apply for the same plan")
    return nil, path and opened(fail.guarded(desired.ledger.open, path)) or nil
  end
  local argv = words(o["secrets-exec"])
  if #argv == 0 then fail.usage("--secrets-exec needs a program", cmd) end
  if not path then
    fail.usage("--secrets-exec needs --ledger FILE here (no HOME or XDG_STATE_HOME for the default)", cmd)
  end
  local s = opened(fail.guarded(desired.sink.exec, argv, { timeout = timeout, ledger = path }))
  return s, s.ledger
end

-- The file, or exit 2 naming the line and field.
local function load(o, cmd)
  if not o.file then fail.usage("--file is required", cmd) end
  local d, err = desired.load(o.file)
  if not d then fail.failure(printable(tostring(err.message or err)), { exit = fail.EXIT_USAGE }) end
  return d
end

-- The registries' login servers, by cloud (az cloud show's acrLoginServerEndpoint)
local LOGIN_SUFFIX = { azurecloud = ".azurecr.io", azurechinacloud = ".azurecr.cn",
                       azureusgovernment = ".azurecr.us" }

local function make_plan(ctx, o)
  local d = load(o, ctx.cmd)
  local s, l = sink_of(o, ctx.cmd)
  -- acr plan: listings at once; acr apply: operations in flight (its plan lists 32 at once)
  local applying = ctx.cmd.path == "apply"
  local width = tonumber(o.width or (applying and "256" or "32"))
  if not width or width < 1 or width > 100000 or width ~= math.floor(width) then
    fail.usage("--width must be a whole number from 1 to 100000", ctx.cmd)
  end
  o.width = width
  -- --subscription (on the command line only) picks the file's registries of that one
  if o._subscription_by == "--subscription" then
    local keep = {}
    for _, reg in ipairs(d.registries) do
      if reg.subscription:lower() == o.subscription:lower() then keep[#keep + 1] = reg end
    end
    if #keep == 0 then
      fail.usage("no registry of " .. o.file .. " is in subscription " .. o.subscription
        .. " (give a subscription id the file names)", ctx.cmd)
    end
    d.registries = keep
  end
  -- one client per registry of the file, with the one credential (main closes them)
  local function client_for(reg)
    return config.client_for(o, { subscription = reg.subscription, resource_group = reg.resource_group,
                                  registry = reg.name })
  end
  local p = fail.on(fail.guarded(desired.plan, client_for, d, { sink = s, ledger = l,
    prune = o.prune and true or false, width = applying and 32 or width,
    login_server_suffix = LOGIN_SUFFIX[(o.cloud or "AzureCloud"):lower()] }))
  return p, s
end

-- -o table / tsv: a row per change (and, for apply, its result)
local PLAN_HEADERS = { "ACTION", "KIND", "REGISTRY", "NAME", "SLOT", "REASON" }
local function change_rows(o, t, with_result)
  local headers, rows = {}, {}
  for i, h in ipairs(PLAN_HEADERS) do headers[i] = h end
  if with_result then headers[#headers + 1] = "RESULT" end
  for _, c in ipairs(t.changes) do
    local row = { c.action, c.kind, c.registry, c.name, c.slot or "", c.reason }
    if with_result then row[#row + 1] = c.result or "" end
    rows[#rows + 1] = row
  end
  output.print_rows(o, headers, rows)
end
output.add_kind("plan", function(o, t) change_rows(o, t, false) end)
output.add_kind("apply", function(o, t) change_rows(o, t, true) end)

local function show_plan(o, p)
  if o._output_given then
    output.emit(o, "plan", p:to_table())
  else
    output.out(render.text(p))
  end
end

local OPTS = {
  file = { kind = "value", short = "f" }, prune = FLAG, width = VALUE, subscription = VALUE,
  ["secrets-dir"] = VALUE, ["secrets-exec"] = VALUE, ["secrets-timeout"] = VALUE, ledger = VALUE,
}

commands.add("plan", {
  summary = "Compare a desired-state file with the registries and print the changes it asks for.",
  usage = "-f FILE [--prune] [--secrets-dir DIR | --secrets-exec CMD] [--ledger FILE]",
  own_clients = true, subscriptions_from_file = true,
  help = [[
  -f, --file FILE           the desired state (YAML, or JSON for *.json): docs/DESIRED.md
      --subscription ID     only the file's registries of this subscription
      --prune               also list the deletes of `prune: true` registries
      --width N             listings at once [32]
]] .. SINK_HELP .. [[

Prints a diff: + create, ~ update, - delete, ↻ rotate a password slot, ✕ retire a slot,
· what waits for a later run, ! what cannot be planned; then a summary. With -o (json,
yaml, table, tsv) the plan as data. Sends GETs only. Exit 1 when something cannot be
planned, 2 for an invalid file.]],
  opts = OPTS,
  run = function(ctx, o)
    local p = make_plan(ctx, o)
    show_plan(o, p)
    if #p.failures > 0 then fail.failure(("%d change(s) cannot be planned"):format(#p.failures)) end
  end,
})

-- One line on stderr per change that did not succeed; a progress line on a terminal.
local function reporter(ctx, total)
  local done, failed, tty = 0, 0, prompt.isatty(2)
  return function(c, ok, err)
    done = done + 1
    if not ok then
      failed = failed + 1
      if tty then io.stderr:write("\r\27[K") end
      io.stderr:write(("acr: failed: %s %s %s%s: %s\n"):format(render.SYMBOL[c.action],
        c.kind:gsub("_", " "), c.name, c.slot and (" " .. c.slot) or "",
        printable(tostring(type(err) == "table" and err.message or err))))
    end
    if tty and not ctx.o["only-show-errors"] then
      io.stderr:write(("\rapplying: %d/%d done, %d failed "):format(done, total, failed))
      if done == total then io.stderr:write("\r\27[K") end
      io.stderr:flush()
    end
  end
end

local function result_data(p, result, show)
  local t = p:to_table()
  for i, r in ipairs(result.changes) do
    local c = r.change and t.changes[r.change.id]
    if c then
      c.result = r.ok and "succeeded" or (r.skipped and "skipped" or "failed")
      c.error = not r.ok and printable(tostring(type(r.err) == "table" and r.err.message or r.err)) or nil
      if show and r.change.secret then c.secret = r.change.secret end
    end
    result.changes[i] = nil
  end
  t.result = { succeeded = result.succeeded, failed = result.failed, skipped = result.skipped }
  return t
end

-- --show-secrets without -o: one line per delivered password
local function show_secrets(result)
  for _, r in ipairs(result.changes) do
    local sec = r.change and r.change.secret
    if sec then
      output.out(("%s/%s %s: %s\n"):format(sec.registry, sec.token, sec.slot, sec.password))
    end
  end
end

commands.add("apply", {
  summary = "Make the registries what a desired-state file says, rotating passwords with no downtime.",
  usage = "-f FILE [--dry-run] [--prune] [--width N] [--secrets-dir DIR | --secrets-exec CMD] [--show-secrets]",
  own_clients = true, subscriptions_from_file = true,
  help = [[
  -f, --file FILE           the desired state (YAML, or JSON for *.json): docs/DESIRED.md
      --subscription ID     only the file's registries of this subscription
      --dry-run             print the plan and change nothing (GETs only)
      --prune               delete what `prune: true` registries do not list
      --width N             operations in flight [256]; a long-running operation keeps its
                            slot while it waits to poll, and each client paces its requests
      --show-secrets        put the generated passwords in the output (they go to the sink all the same)
]] .. SINK_HELP .. [[

Prints the plan, then runs it: scope maps before the tokens that use them, token deletes
before the scope maps they used, each change on its own. A failed change is listed on
stderr and makes the exit status 1; what follows it is skipped.]],
  opts = { file = OPTS.file, subscription = VALUE, prune = FLAG, width = VALUE, ["dry-run"] = FLAG, ["show-secrets"] = FLAG,
           ["secrets-dir"] = VALUE, ["secrets-exec"] = VALUE, ["secrets-timeout"] = VALUE, ledger = VALUE },
  run = function(ctx, o)
    local p = make_plan(ctx, o)
    if o["dry-run"] or (p:is_empty() and #p.notes == 0) then
      show_plan(o, p)
      if #p.failures > 0 then fail.failure(("%d change(s) cannot be planned"):format(#p.failures)) end
      return
    end
    if not o._output_given then output.out(render.text(p)) end
    for _, f in ipairs(p.failures) do
      io.stderr:write(("acr: failed: %s%s\n"):format(f.name and ("token " .. f.name .. ": ") or "",
        printable(f.message)))
    end
    local result = p:apply { width = o.width, on_change = reporter(ctx, #p.changes),
                             show_secrets = o["show-secrets"] and true or false }
    if o._output_given then
      output.emit(o, "apply", result_data(p, result, o["show-secrets"]))
    else
      output.out(("Apply: %d succeeded, %d failed, %d skipped.\n"):format(result.succeeded,
        result.failed, result.skipped))
      if o["show-secrets"] then show_secrets(result) end
    end
    if not result.ok then
      fail.failure(("%d change(s) failed, %d skipped"):format(result.failed, result.skipped))
    end
  end,
})

return _M
