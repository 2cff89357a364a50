-- acr.desired — desired state for scope maps and tokens: a file that says what the
-- registries should hold, a plan of the changes that gets them there (each with its
-- reason), and an apply that runs them concurrently in a safe order, rotating
-- passwords through two slots with no moment where a consumer holds one that no
-- longer works. acr.plan is this module's plan.
--
--   local desired = require "acr.desired"
--   local d = assert(desired.load("registries.yaml"))
--   local plan = assert(desired.plan(client, d, { sink = desired.sink.dir("/run/secrets/acr") }))
--   print(plan)                                  -- the changes, one line each
--   local result = plan:apply{ width = 256 }     -- result.ok, result.changes[i].err
local acr = require "acr"
local check = require "acr.check"
local current = require "acr.desired.current"
local file = require "acr.desired.file"
local ledger = require "acr.desired.ledger"
local make = require "acr.desired.plan"
local render = require "acr.desired.render"
local run = require "acr.desired.apply"
local sink = require "acr.desired.sink"

local _M = { _VERSION = acr._VERSION, sink = sink, ledger = ledger }

_M.load, _M.parse, _M.check = file.load, file.parse, file.check

local Plan = { __name = "acr.Plan" }
Plan.__index = Plan
Plan.__tostring = function(p) return render.text(p) end

local function registry_id(reg)
  return ("/subscriptions/%s/resourceGroups/%s/providers/Microsoft.ContainerRegistry/registries/%s")
    :format(reg.subscription, reg.resource_group, reg.name):lower()
end

local function is_client(v)
  local mt = type(v) == "userdata" and getmetatable(v)
  return mt and mt.__name == "acr.Client" or false
end

-- The client of each registry of the file: a client, a list of clients (matched by
-- their registry ids), or a function(registry) -> client.
local function resolve(fname, clients, d)
  local by_id
  if is_client(clients) then clients = { clients } end
  if type(clients) == "table" then
    by_id = {}
    for i, c in ipairs(clients) do
      if not is_client(c) then check.argerror(fname, 1, ("item %d is not an acr.Client"):format(i), 3) end
      by_id[c:registry_id():lower()] = c
    end
  elseif type(clients) ~= "function" then
    check.typeerror(fname, 1, "acr.Client, list of acr.Client or function", clients, 3)
  end
  local entries, missing = {}, {}
  for _, reg in ipairs(d.registries) do
    local c, err
    if by_id then c = by_id[registry_id(reg)] else c, err = clients(reg) end
    if is_client(c) then
      entries[#entries + 1] = { client = c, registry = reg }
    else
      missing[#missing + 1] = { registry = reg, err = err or acr.error("NoClient",
        "no client was given for registry " .. reg.name .. " of resource group "
        .. reg.resource_group .. " in subscription " .. reg.subscription) }
    end
  end
  return entries, missing
end

local OPTIONS = { prune = "boolean", ledger = true, sink = true, now = "number", width = "number",
                  login_server_suffix = "string" }

-- A sink is an object with deliver and withdraw (acr.desired.sink), or a function.
local function check_sink(fname, n, s, level)
  if s == nil then return nil end
  if type(s) == "function" then return sink.func(s) end
  local ok, is = pcall(function() return type(s.deliver) == "function" and type(s.withdraw) == "function" end)
  if not (ok and is) then
    check.opterror(fname, n, "sink", "must be a sink (acr.desired.sink: deliver and withdraw) or a function",
      level + 1)
  end
  return s
end

local function is_empty_ledger(l) return next(l:to_table()) == nil end

-- syntax: plan, err = desired.plan(client_or_clients, desired_or_path, opts?)
-- opts: { prune = bool (what prune: true in the file deletes, only then), sink = (its
-- ledger says what was delivered), ledger = (else the sink's, else one in memory),
-- now = epoch seconds, width = listings at once }
function _M.plan(clients, d, opts)
  local fname = "acr.plan"
  opts = check.options(fname, 3, opts, OPTIONS, 2)
  local s = check_sink(fname, 3, opts.sink, 2)
  if type(d) == "string" then
    local err
    d, err = file.load(d)
    if not d then return nil, err end
  elseif type(d) ~= "table" then
    check.typeerror(fname, 2, "desired state or path", d, 2)
  elseif not file.is_checked(d) then
    local err
    d, err = file.check(d)
    if not d then return nil, err end
  end
  local entries, missing = resolve(fname, clients, d)
  local state, failures = current.read(entries, { width = opts.width })
  for _, m in ipairs(missing) do failures[#failures + 1] = m end
  local l = opts.ledger or (s and s.ledger) or ledger.memory()
  local now = opts.now or os.time()
  local p = make.make(entries, state, failures, { prune = opts.prune or false, ledger = l, now = now })
  p.desired, p.ledger, p.sink, p.now, p.now_given = d, l, s, now, opts.now
  p.ledger_implicit = not opts.ledger and not (s and s.ledger)
  p.login_server_suffix = opts.login_server_suffix
  return setmetatable(p, Plan)
end

-- syntax: bool = plan:is_empty()  -- no change to make and nothing failed to plan
function Plan:is_empty()
  return #self.changes == 0 and #self.failures == 0
end

local APPLY_OPTIONS = { width = "number", sink = true, on_change = "function",
                        show_secrets = "boolean" }

-- syntax: result = plan:apply{width=?, sink=?, on_change=?, show_secrets=?}
-- The sink and ledger an apply uses: the plan's; or, for a plan made with neither, the
-- sink given now, whose ledger must then hold nothing the plan did not see.
local function apply_sink(self, opts)
  local s = check_sink("apply", 2, opts.sink, 2)
  if s == nil or s == self.sink then return self.sink, self.ledger end
  if self.sink or not self.ledger_implicit or not is_empty_ledger(s.ledger or ledger.memory()) then
    check.opterror("apply", 2, "sink", "is not the sink the plan was made with: give it to acr.plan, "
      .. "whose decisions depend on what its ledger says was delivered", 3)
  end
  return s, s.ledger or self.ledger
end

function Plan:apply(opts)
  if getmetatable(self) ~= Plan then check.typeerror("apply", 1, "acr.Plan", self, 2) end
  opts = check.options("apply", 2, opts, APPLY_OPTIONS, 2)
  if self.applied then
    check.argerror("apply", 1, "this plan was applied already: make a new one (acr.plan)", 2)
  end
  check.whole("apply", 2, opts, "width", 1, 100000, 2)
  local s, l = apply_sink(self, opts)
  self.applied = true
  local result = run.run(self, { width = opts.width, sink = s, ledger = l,
    on_change = opts.on_change, show_secrets = opts.show_secrets, now = self.now_given,
    login_server_suffix = self.login_server_suffix })
  for _, f in ipairs(self.failures) do
    result.failed = result.failed + 1
    result.ok = false
    result.changes[#result.changes + 1] = { ok = false, failure = f, err = f.err or f.message }
  end
  return result
end

-- syntax: t = plan:to_table()  -- the plan as plain data (for -o json): no secret is in it
function Plan:to_table()
  return render.data(self)
end

return _M
