-- acr.cli.commands — the command table: each command's words, help, options and
-- what it runs. COMMANDS maps a path ("token credential generate") to its spec
-- { path, summary, usage, help?, opts = name -> { kind, short? } or false, needs_name?,
--   own_clients?, run };
-- ORDER lists the paths as the help shows them. kind: flag, value, repeat (a value given
-- any number of times: a list) or multi (a name and actions); false drops a common option.
--
-- run(ctx, o): ctx.cmd (the spec), ctx.o (= o, the options), ctx.client, ctx.spinner
-- (stderr is a terminal); returns nothing, or an exit status (1: some of the work failed,
-- said on stderr). A misuse is a usage error (exit 2), raised before anything is sent.
-- own_clients: the command makes its clients (config.client_for); no ctx.client, no -r/-g.

local dry_run = require "acr.cli.dry_run"
local fail = require "acr.cli.fail"
local help = require "acr.cli.help"
local operation = require "acr.cli.operation"
local output = require "acr.cli.output"
local prompt = require "acr.cli.prompt"
local values = require "acr.cli.values"

local set_of, same_set = values.set_of, values.same_set
local REPO_ACTIONS, GATEWAY_ACTIONS = values.REPO_ACTIONS, values.GATEWAY_ACTIONS
local actions_from, expiry_from, check_status =
  values.actions_from, values.expiry_from, values.check_status
local planned, print_plan, change_lines = dry_run.planned, dry_run.print_plan, dry_run.change_lines
local SM_FIELDS, TOKEN_FIELDS = dry_run.SM_FIELDS, dry_run.TOKEN_FIELDS
local sm_fields, token_fields = dry_run.sm_fields, dry_run.token_fields

local _M = {}

local COMMANDS, ORDER = {}, {}
_M.COMMANDS, _M.ORDER = COMMANDS, ORDER

-- syntax: commands.add(path, spec)  -- a command, listed after those before it
local function command(path, spec)
  assert(not COMMANDS[path], "two commands named " .. path)
  spec.path = path
  COMMANDS[path] = spec
  ORDER[#ORDER + 1] = path
end
_M.add = command

-- syntax: bool = commands.is_group(prefix)  -- "token", "token credential"
function _M.is_group(prefix)
  if prefix == "" then return false end
  for _, path in ipairs(ORDER) do
    if path:sub(1, #prefix + 1) == prefix .. " " then return true end
  end
  return false
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
local DRY_RUN = { kind = "flag" }
local DRY_RUN_HELP = "      --dry-run          print what would be sent and what would change; send no write"

---------------------------------------------------------------------------
-- current state (--dry-run's plans: dry_run.lua)
---------------------------------------------------------------------------

-- syntax: t, err = current(ctx, get, name)  -- the resource (its to_table()), or nil and
-- ARM's error when it answers 404; any other failure is raised
local function current(ctx, get, name)
  local v, e = fail.guarded(ctx.client[get], ctx.client, name)
  if v == nil and e ~= nil then
    if fail.is_not_found(e) then return nil, e end
    error(e, 0)
  end
  return v:to_table()
end

-- The current resource, or the 404 raised: what the command would fail with.
local function existing(ctx, get, name)
  local t, e = current(ctx, get, name)
  if not t then error(e, 0) end
  return t
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
      --no-wait
]] .. DRY_RUN_HELP,
    opts = { name = NAME_OPT, yes = YES, ["no-wait"] = NO_WAIT, ["dry-run"] = DRY_RUN },
    run = function(ctx, o)
      if o["dry-run"] then
        local before = current(ctx, k.get, o.name)
        local what = before and ("would delete " .. k.noun .. " '" .. o.name .. "'")
          or (k.noun .. " '" .. o.name .. "' does not exist: deleting it changes nothing")
        return print_plan(o, { planned(ctx, what, k.begin_delete:gsub("^begin_", ""), o.name) })
      end
      prompt.confirm(ctx, "delete " .. k.noun .. " '" .. o.name .. "'" .. (k.delete_note or ""))
      operation.run(ctx, "delete " .. k.noun .. " " .. o.name, ctx.client[k.begin_delete],
        ctx.client, o.name)
    end,
  })

  command(group .. " show", {
    summary = "Show a " .. k.noun .. (k.show_note or "") .. ".",
    usage = "-n NAME",
    help = "  -n, --name NAME",
    opts = { name = NAME_OPT },
    run = function(ctx, o)
      local v = fail.on(fail.guarded(ctx.client[k.get], ctx.client, o.name))
      output.emit(o, k.one, v:to_table())
    end,
  })

  command(group .. " list", {
    summary = "List the registry's " .. k.plural .. ".",
    usage = "",
    needs_name = false,
    run = function(ctx, o)
      output.emit(o, k.many, operation.list_all(ctx, ctx.client[k.pager]))
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
      --no-wait                         start it, print its status and request id
]]):format(table.concat(REPO_ACTIONS, " "), table.concat(GATEWAY_ACTIONS, " ")) .. DRY_RUN_HELP,
  opts = { name = NAME_OPT, repository = MULTI, gateway = MULTI, description = VALUE,
           ["no-wait"] = NO_WAIT, ["dry-run"] = DRY_RUN },
  run = function(ctx, o)
    local actions = actions_from(o, ctx.cmd, "repository", "gateway")
    if #actions == 0 then fail.usage("give at least one --repository or --gateway", ctx.cmd) end
    if o["dry-run"] then
      local before = current(ctx, "get_scope_map", o.name)
      local params = { actions = actions, description = o.description }
      return print_plan(o, { planned(ctx, change_lines("scope map", o.name, SM_FIELDS,
        sm_fields(before), params), "create_scope_map", o.name, params) })
    end
    local sm = operation.run(ctx, "create scope map " .. o.name,
      ctx.client.begin_create_scope_map, ctx.client, o.name,
      { actions = actions, description = o.description })
    if sm then output.emit(o, "scope_map", sm:to_table()) end
  end,
})

-- The scope map's actions, read, less those in remove, then those in add it lacks
-- (duplicates dropped); refuses (usage) to leave none.
local function edited_actions(ctx, o, add, remove)
  local sm = fail.on(fail.guarded(ctx.client.get_scope_map, ctx.client, o.name))
  local drop, have, actions = set_of(remove), {}, {}
  for _, a in ipairs(sm.actions or {}) do
    if not drop[a] and not have[a] then actions[#actions + 1] = a; have[a] = true end
  end
  for _, a in ipairs(add) do
    if not have[a] then actions[#actions + 1] = a; have[a] = true end
  end
  if #actions == 0 then
    fail.usage("this would remove every action of scope map '" .. o.name .. "'; a scope map "
      .. "needs at least one (delete it with acr scope-map delete, or give --add-*)", ctx.cmd)
  end
  return actions
end

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
      --no-wait
]] .. DRY_RUN_HELP,
  opts = { name = NAME_OPT, repository = MULTI, gateway = MULTI, ["add-repository"] = MULTI,
           ["remove-repository"] = MULTI, ["add-gateway"] = MULTI, ["remove-gateway"] = MULTI,
           description = VALUE, ["no-wait"] = NO_WAIT, ["dry-run"] = DRY_RUN },
  run = function(ctx, o)
    local cmd = ctx.cmd
    local set = actions_from(o, cmd, "repository", "gateway")
    local add = actions_from(o, cmd, "add-repository", "add-gateway")
    local remove = actions_from(o, cmd, "remove-repository", "remove-gateway")
    if #set > 0 and (#add > 0 or #remove > 0) then
      fail.usage("--repository/--gateway replace the actions: not with --add-*/--remove-*", cmd)
    end
    if #set == 0 and #add == 0 and #remove == 0 and not o.description then
      fail.usage("nothing to update: give actions to add or remove, or --description", cmd)
    end
    local params = { description = o.description }
    if #set > 0 then
      params.actions = set
    elseif #add > 0 or #remove > 0 then
      params.actions = edited_actions(ctx, o, add, remove)
    end
    if o["dry-run"] then
      local before = sm_fields(existing(ctx, "get_scope_map", o.name))
      local after = { description = params.description, actions = params.actions or before.actions }
      return print_plan(o, { planned(ctx, change_lines("scope map", o.name, SM_FIELDS, before,
        after), "update_scope_map", o.name, params) })
    end
    local sm = operation.run(ctx, "update scope map " .. o.name,
      ctx.client.begin_update_scope_map, ctx.client, o.name, params)
    if sm then output.emit(o, "scope_map", sm:to_table()) end
  end,
})

kind_commands("scope-map", {
  noun = "scope map", plural = "scope maps", one = "scope_map", many = "scope_maps",
  get = "get_scope_map", begin_delete = "begin_delete_scope_map", pager = "scope_maps",
  delete_note = " (tokens bound to it lose its permissions)",
})

-- Generates the passwords (name nil: both) of a token; returns ARM's shape.
local function generate(ctx, tok_name, name, expiry)
  local creds = operation.run(ctx, "generate credentials for " .. tok_name,
    ctx.client.begin_generate_credentials, ctx.client,
    { token = tok_name, name = name, expiry = expiry })
  return creds and output.creds_table(creds)
end

-- As az does: the token's own scope map, NAME-scope-map. One that exists with the same
-- actions (as a set) is reused; one with other actions is left alone and the command
-- fails, in az's words. Returns its name and whether it is to be made.
local function own_scope_map_plan(ctx, o, actions)
  local name = o.name .. "-scope-map"
  local sm = current(ctx, "get_scope_map", name)
  if not sm then return name, true end
  if not same_set((sm.properties or {}).actions or {}, actions) then
    fail.failure("The default scope map was already configured with different repository "
      .. "permissions.\nPlease use \"acr scope-map update -n " .. name
      .. " --add-repository REPO ACTION... --remove-repository REPO ACTION...\" to update.")
  end
  output.debug(o, "scope map '" .. name .. "' exists with the same actions: reused")
  return name, false
end

-- The token's own scope map, made and waited for (even with --no-wait).
local function own_scope_map(ctx, o, name, actions)
  local sm_ctx = setmetatable({ o = setmetatable({ ["no-wait"] = false }, { __index = o }) },
    { __index = ctx })
  operation.run(sm_ctx, "create scope map " .. name, ctx.client.begin_create_scope_map,
    ctx.client, name, { actions = actions, description = "Token " .. o.name .. " scope map" })
end

-- The registry's login server: NAME.azurecr.io, or the suffix of --cloud.
local LOGIN_SUFFIX = { AzureCloud = "azurecr.io", AzureChinaCloud = "azurecr.cn",
                       AzureUSGovernment = "azurecr.us" }
local function login_server(o)
  return o.registry:lower() .. "." .. (LOGIN_SUFFIX[o.cloud or "AzureCloud"] or "azurecr.io")
end

-- After a token is created with passwords, what its user needs next (a warning on
-- stderr, so that stdout stays the token's document): the password is never in it.
local function login_hint(o)
  if o.output == "none" then return end
  output.warn(o, "Please store your generated credentials safely: they are shown only once. "
    .. "Log in with the password on stdin, never on the command line: docker login "
    .. login_server(o) .. " --username " .. o.name .. " --password-stdin")
end

-- token create's checks before anything is written: a token that exists is not
-- replaced (its live passwords would be) unless --overwrite; returns it, or nil.
local function token_to_create(ctx, o)
  local before = current(ctx, "get_token", o.name)
  if before and not o.overwrite then
    fail.failure("token '" .. o.name .. "' already exists; creating it again would replace its "
      .. "passwords. Use `acr token update` or `acr token credential generate` (or --overwrite "
      .. "to replace it)")
  end
  if before then
    output.warn(o, "token '" .. o.name .. "' exists: --overwrite replaces it"
      .. (o["no-passwords"] and "" or " and both of its passwords"))
  end
  return before
end

-- token create --dry-run: the requests it would send, and what they would change.
local function token_create_plan(ctx, o, before, sm, status, expiry)
  local steps = {}
  if sm.make then
    local params = { actions = sm.actions, description = "Token " .. o.name .. " scope map" }
    steps[#steps + 1] = planned(ctx, change_lines("scope map", sm.name, SM_FIELDS, nil, params),
      "create_scope_map", sm.name, params)
  elseif sm.actions then
    steps[#steps + 1] = { what = "scope map '" .. sm.name .. "' exists with the same actions: reused" }
  end
  local sm_id = sm.name:find("/", 1, true) and sm.name
    or (ctx.client:registry_id() .. "/scopeMaps/" .. sm.name)
  local lines = change_lines("token", o.name, TOKEN_FIELDS, token_fields(before),
    { status = status or "enabled", scopeMapId = sm_id })
  if before then lines[1] = lines[1]:gsub("^would change", "would replace") end
  steps[#steps + 1] = planned(ctx, lines, "create_token", o.name, { scope_map = sm.name, status = status })
  if not o["no-passwords"] and not o["no-wait"] then
    steps[#steps + 1] = planned(ctx, "would generate password1 and password2 of token '" .. o.name
      .. "'" .. (before and " (replacing the ones it has)" or ""), "generate_credentials",
      { token = o.name, expiry = expiry })
  end
  print_plan(o, steps)
end

-- Generates both passwords of the new token t (ARM's shape) into its credentials.
local function with_passwords(ctx, o, t, expiry)
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
]] .. help.expiry(29) .. [[
      --no-wait                     start the creation, print its status and request id
                                    (no passwords are generated then)
      --overwrite                   replace the token if it exists (and its passwords);
                                    without it, a token that exists is an error
]] .. DRY_RUN_HELP,
  opts = { name = NAME_OPT, ["scope-map"] = VALUE, repository = MULTI, gateway = MULTI,
           status = VALUE, ["no-passwords"] = FLAG, ["expiration-in-days"] = VALUE,
           expiration = VALUE, ["no-wait"] = NO_WAIT, overwrite = FLAG, ["dry-run"] = DRY_RUN },
  run = function(ctx, o)
    local cmd = ctx.cmd
    local actions = actions_from(o, cmd, "repository", "gateway")
    local status = check_status(o.status, cmd)
    local expiry = expiry_from(o, cmd)
    if o["scope-map"] and #actions > 0 then
      fail.usage("give --scope-map or --repository/--gateway, not both", cmd)
    end
    if not o["scope-map"] and #actions == 0 then
      fail.usage("give --scope-map, or --repository/--gateway to make one", cmd)
    end
    if o["no-passwords"] and expiry then
      fail.usage("--expiration* set the passwords' expiry: not with --no-passwords", cmd)
    end
    local before = token_to_create(ctx, o)
    local sm = { name = o["scope-map"] }
    if #actions > 0 then
      sm.actions = actions
      sm.name, sm.make = own_scope_map_plan(ctx, o, actions)
    end
    if o["dry-run"] then return token_create_plan(ctx, o, before, sm, status, expiry) end
    if sm.make then own_scope_map(ctx, o, sm.name, actions) end
    local tok = operation.run(ctx, "create token " .. o.name, ctx.client.begin_create_token,
      ctx.client, o.name, { scope_map = sm.name, status = status })
    if not tok then
      if not o["no-passwords"] then
        output.warn(o, "--no-wait: no passwords were generated; when the token exists: "
          .. "acr token credential generate -n " .. o.name)
      end
      return
    end
    local t = tok:to_table()
    if not o["no-passwords"] then with_passwords(ctx, o, t, expiry) end
    output.emit(o, "token_created", t)
    if not o["no-passwords"] then login_hint(o) end
  end,
})

command("token update", {
  summary = "Update a token's scope map or status.",
  usage = "-n NAME [--scope-map MAP] [--status enabled|disabled] [--no-wait]",
  help = [[
  -n, --name NAME
      --scope-map MAP     bind it to another scope map (a name or a resource id)
      --status STATUS     enabled or disabled
      --no-wait
]] .. DRY_RUN_HELP,
  opts = { name = NAME_OPT, ["scope-map"] = VALUE, status = VALUE, ["no-wait"] = NO_WAIT,
           ["dry-run"] = DRY_RUN },
  run = function(ctx, o)
    local status = check_status(o.status, ctx.cmd)
    if not status and not o["scope-map"] then
      fail.usage("nothing to update: give --scope-map or --status", ctx.cmd)
    end
    if o["dry-run"] then
      local before = token_fields(existing(ctx, "get_token", o.name))
      local map = o["scope-map"]
      local after = { status = status, scopeMapId = map and (map:find("/", 1, true) and map
        or (ctx.client:registry_id() .. "/scopeMaps/" .. map)) }
      return print_plan(o, { planned(ctx, change_lines("token", o.name, TOKEN_FIELDS, before, after),
        "update_token", o.name, { scope_map = map, status = status }) })
    end
    local tok = operation.run(ctx, "update token " .. o.name, ctx.client.begin_update_token,
      ctx.client, o.name, { scope_map = o["scope-map"], status = status })
    if tok then output.emit(o, "token", tok:to_table()) end
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
]] .. help.expiry(24) .. [[
      --no-wait                start it, print its status and request id (the values are then lost)
]] .. DRY_RUN_HELP,
  opts = { name = NAME_OPT, password1 = FLAG, password2 = FLAG, ["expiration-in-days"] = VALUE,
           expiration = VALUE, ["no-wait"] = NO_WAIT, ["dry-run"] = DRY_RUN },
  run = function(ctx, o)
    local expiry = expiry_from(o, ctx.cmd)
    local name
    if o.password1 and not o.password2 then name = "password1" end
    if o.password2 and not o.password1 then name = "password2" end
    if o["dry-run"] then
      local tok = existing(ctx, "get_token", o.name)
      local have = {}
      for _, p in ipairs(((tok.properties or {}).credentials or {}).passwords or {}) do
        have[p.name] = p
      end
      local lines = {}
      for _, n in ipairs(name and { name } or { "password1", "password2" }) do
        local p = have[n]
        lines[#lines + 1] = p and ("would replace " .. n .. " of token '" .. o.name .. "' (created "
          .. tostring(p.creationTime) .. ", expiry " .. tostring(p.expiry or "never") .. ")")
          or ("would create " .. n .. " of token '" .. o.name .. "'")
      end
      return print_plan(o, { planned(ctx, lines, "generate_credentials",
        { token = o.name, name = name, expiry = expiry }) })
    end
    local creds = generate(ctx, o.name, name, expiry)
    if creds then output.emit(o, "credentials", creds) end
  end,
})

-- The PATCH body that keeps the passwords of tok that o does not delete; a failure
-- (exit 1) when o deletes one tok lacks.
local function kept_passwords(tok, o)
  local have = {}
  for _, p in ipairs((tok.credentials or {}).passwords or {}) do have[p.name] = true end
  local drop = { password1 = o.password1, password2 = o.password2 }
  for _, n in ipairs { "password1", "password2" } do
    if drop[n] and not have[n] then fail.failure("token '" .. o.name .. "' has no " .. n) end
  end
  local keep = {}
  for _, n in ipairs { "password1", "password2" } do
    if have[n] and not drop[n] then keep[#keep + 1] = '{"name":"' .. n .. '"}' end
  end
  -- a string body: an empty Lua table would be encoded as {} where ARM wants []
  return '{"properties":{"credentials":{"passwords":[' .. table.concat(keep, ",") .. "]}}}"
end

command("token credential delete", {
  summary = "Delete password1 and/or password2 of a token.",
  usage = "-n TOKEN (--password1 | --password2)… [--yes] [--no-wait]",
  help = [[
  -n, --name TOKEN
      --password1     delete password1
      --password2     delete password2
  -y, --yes           accepted, and not needed: it does not ask, as az does not
      --no-wait
]] .. DRY_RUN_HELP .. [[

As az does: the token is read, then PATCHed with the passwords it keeps.]],
  opts = { name = NAME_OPT, password1 = FLAG, password2 = FLAG, yes = YES, ["no-wait"] = NO_WAIT,
           ["dry-run"] = DRY_RUN },
  run = function(ctx, o)
    if not o.password1 and not o.password2 then
      fail.usage("give --password1, --password2 or both", ctx.cmd)
    end
    local tok = fail.on(fail.guarded(ctx.client.get_token, ctx.client, o.name))
    local body = kept_passwords(tok, o)
    if o["dry-run"] then
      local what = "would delete " .. ((o.password1 and o.password2) and "password1 and password2"
        or (o.password1 and "password1" or "password2")) .. " of token '" .. o.name .. "'"
      return print_plan(o, { planned(ctx, what, "request", "PATCH", tok.id, { body = body,
        lro = true, headers = { ["Content-Type"] = "application/json" } }) })
    end
    local res = operation.run(ctx, "delete credentials of " .. o.name, ctx.client.begin_request,
      ctx.client, "PATCH", tok.id, { body = body, lro = true,
                                     headers = { ["Content-Type"] = "application/json" } })
    if res then
      local t = type(res.body) == "table" and res.body or tok:to_table()
      output.emit(o, "token", t)
    end
  end,
})

-- Commands of their own files, which add themselves: this module is in package.loaded
-- before they require it (Lua 5.4 would load it again, LuaJIT refuse).
local EXTRA = { "acr.cli.audit", "acr.cli.desired" }
package.loaded["acr.cli.commands"] = _M
for _, name in ipairs(EXTRA) do require(name) end

return _M
