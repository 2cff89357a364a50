-- acr.cli.audit — `acr audit`: every token of every registry of the subscriptions
-- (acr.audit), as rows with flags, problems first, through output.emit (-o, --query).
-- The registries are found through ARM, so the command has clients of its own.

local audit = require "acr.audit"
local commands = require "acr.cli.commands"
local config = require "acr.cli.config"
local fail = require "acr.cli.fail"
local lookup = require "acr.cli.lookup"
local output = require "acr.cli.output"

local printable = fail.printable

-- The value of option name as a whole number from min to max, or default; the value
-- is not repeated in the message (it may be a misplaced secret).
local function whole(o, name, min, max, default, cmd)
  local v = o[name]
  if v == nil then return default end
  local n = v:find("^%d+$") and #v <= 9 and tonumber(v)
  if not n or n < min or n > max then
    fail.usage(("--%s must be a whole number from %d to %d"):format(name, min, max), cmd)
  end
  return n
end

-- The subscriptions' ids: a GUID as it is, a name looked up in ARM's list (as for
-- every command), with one client for all the names.
local function subscription_ids(o)
  local ids, c = {}, nil
  local ok, e = pcall(function()
    for _, s in ipairs(o.subscription) do
      if lookup.is_guid(s) then
        ids[#ids + 1] = s
      else
        c = c or config.client_for(o, { subscription = config.LOOKUP_SUBSCRIPTION })
        ids[#ids + 1] = (lookup.subscription(c, s, o._subscription_by))
      end
    end
  end)
  if c then c:close() end
  if not ok then error(e, 0) end
  return ids
end

-- Where a failure row is: its registry, or the subscription whose list failed.
local function where_of(row)
  if row.registry then
    return ("registry '%s' (subscription %s)"):format(row.registry, row.subscription)
  end
  return "the registries of subscription " .. row.subscription
end

-- Each registry (or list) that could not be audited, on stderr: the rows say it too.
local function report_failures(rows)
  for _, row in ipairs(rows) do
    local e = row.error
    if e then
      io.stderr:write(("ERROR: %s could not be audited: (%s) %s\n"):format(printable(where_of(row)),
        printable(e.code), printable(e.message)))
    end
  end
end

---------------------------------------------------------------------------
-- -o table and tsv
---------------------------------------------------------------------------

local HEADERS = { "REGISTRY", "TOKEN", "STATUS", "SCOPE MAP", "REPOSITORIES", "PASSWORD1 EXPIRY",
  "PASSWORD2 EXPIRY", "FLAGS" }

-- A password's expiry as the token table shows it: never for none, empty for no such slot.
local function expiry_cell(row, name)
  for _, p in ipairs(row.passwords or {}) do
    if p.name == name then return p.expiry or "never" end
  end
end

local function table_row(row)
  local flags = table.concat(row.flags, ",")
  if row.error then
    return { row.registry or ("(subscription " .. row.subscription .. ")"), nil, nil, nil, nil,
      nil, nil, flags .. " (" .. row.error.code .. ")" }
  end
  return { row.registry, row.token, row.status, row.scope_map, tostring(#row.repositories),
    expiry_cell(row, "password1"), expiry_cell(row, "password2"), flags }
end

output.add_kind("audit", function(o, rows)
  local cells = {}
  for i, row in ipairs(rows) do cells[i] = table_row(row) end
  output.print_rows(o, HEADERS, cells)
end, true)

---------------------------------------------------------------------------
-- the command
---------------------------------------------------------------------------

commands.add("audit", {
  summary = "Audit every token of the subscriptions' registries: passwords, scope, flags.",
  usage = "[--subscription ID|NAME]… [--warn-days N] [--max-repositories N] [--width N]",
  help = [[
      --subscription ID|NAME   a subscription whose registries are audited (found through
                               ARM), by id or name; repeatable; none: AZURE_SUBSCRIPTION_ID,
                               else az's default
      --warn-days N            flag passwords that expire within N days (default 30)
      --max-repositories N     flag scope maps granting more than N repositories (default 10)
      --width N                list at most N pages at a time (default 16)

Each token: its registry, status, scope map, actions, password slots (creation, expiry)
and flags: expired, expires_soon, never_expires, unreadable_expiry, no_password,
disabled_with_live_passwords, missing_scope_map, wildcard_scope (a repository with *),
broad_scope. Tokens with flags come first; a registry that could not be audited is a
row flagged audit_failed, and said on stderr. Password values are never listed.
Exit status: 0 audited (with flags or not), 1 some registry not audited, 2 usage.]],
  opts = { subscription = { kind = "repeat" }, ["warn-days"] = { kind = "value" },
           ["max-repositories"] = { kind = "value" }, width = { kind = "value" } },
  own_clients = true,
  run = function(ctx, o)
    local cmd = ctx.cmd
    local warn_days = whole(o, "warn-days", 0, 36500, 30, cmd)
    local max_repositories = whole(o, "max-repositories", 0, 1000000, 10, cmd)
    local width = whole(o, "width", 1, 1000, 16, cmd)
    local report = audit.run {
      subscriptions = subscription_ids(o), warn_days = warn_days,
      max_repositories = max_repositories, width = width,
      client = function(where) return config.client_for(o, where) end,
    }
    report_failures(report.rows)
    output.emit(o, "audit", report.rows)
    if report.failed > 0 then return fail.EXIT_SERVICE end
  end,
})
