-- acr.cli.args — the command line's one parser.
--
-- The command's words may come before, between or after options (acr -o table
-- token list), so the arguments are read once, left to right: an option is read by
-- what any command makes of it (a flag, a value, a name and actions) until the
-- words name a command, by what that command makes of it after. read() gives the
-- command and the options as written; options() then checks them against the
-- command, in their order, and gives their values.
--
-- Nothing here repeats an argument that is not a command's or an option's name: a
-- word may be a misplaced value, and a value may be a secret.

local fail = require "acr.cli.fail"

local usage = fail.usage

local _M = {}

-- Options every command takes: name -> { kind, short?, env? }.
_M.COMMON = {
  registry = { kind = "value", short = "r", env = "ACR_REGISTRY" },
  ["resource-group"] = { kind = "value", short = "g", env = "ACR_RESOURCE_GROUP" },
  subscription = { kind = "value", env = "AZURE_SUBSCRIPTION_ID" },
  cloud = { kind = "value" },
  endpoint = { kind = "value", env = "ACR_ENDPOINT" },
  ["ca-file"] = { kind = "value", env = "REQUESTS_CA_BUNDLE" },
  output = { kind = "value", short = "o" },
  query = { kind = "value" },
  verbose = { kind = "flag" },
  debug = { kind = "flag" },
  ["only-show-errors"] = { kind = "flag" },
  help = { kind = "flag", short = "h" },
}
local COMMON = _M.COMMON

-- The options that name the one registry of ctx.client: a command with own_clients
-- makes its clients from elsewhere (ARM's lists, a file), so it takes neither.
local ONE_REGISTRY = { registry = true, ["resource-group"] = true }

_M.SECRET_MESSAGE = ": secrets are not taken as arguments (they show in ps and in shell "
  .. "history); credentials come from the environment"

-- Names that would carry a secret: refused, whatever the command, value unseen.
local function secret_option(name)
  return name == "password" or name == "p" or name:find("secret", 1, true)
      or name:find("access%-token") or name == "token" or name:find("password$")
      or name == "certificate-password" or name == "client-certificate-password"
end

local function is_dash(a) return a:sub(1, 1) == "-" and #a > 1 end

-- Every option of any command: name -> spec, letter -> name.
local function all_options(commands)
  local long, short = { version = { kind = "flag" } }, {}
  local function add(name, spec)
    long[name] = long[name] or spec
    if spec.short then short[spec.short] = short[spec.short] or name end
  end
  for name, spec in pairs(COMMON) do add(name, spec) end
  for _, path in ipairs(commands.ORDER) do
    for name, spec in pairs(commands.COMMANDS[path].opts or {}) do
      if spec then add(name, spec) end   -- false: a common option the command drops
    end
  end
  return long, short
end

-- The option a dash-argument names (-r: registry), and its inline value.
local function option_of(a, short)
  if a:sub(1, 2) == "--" and #a > 2 then
    local name, inline = a:match("^%-%-([^=]+)=(.*)$")
    return name or a:sub(3), inline
  end
  local letter = a:match("^%-(%a)$")
  if letter then return short[letter] or letter end
  return a:sub(2)
end

-- The first secret option, wherever it stands (its value is never looked at).
local function secret_in(argv, long, short)
  for _, a in ipairs(argv) do
    if is_dash(a) then
      local name = option_of(a, short)
      if not long[name] and secret_option(name) then return (a:gsub("=.*", "")) end
    end
  end
end

---------------------------------------------------------------------------
-- reading
---------------------------------------------------------------------------

-- The reader's state: argv; long and short (all_options); commands; words (the
-- command words so far); cmd (once they name one); kept (the arguments that are
-- not command words, each { arg, pos }); items (the options and stray words among
-- them, in order, each { arg, pos, k = its index in kept, values = {k…} }); unknown
-- (the first option no command knows, before the command, as it may be shown).

local function keep(st, i)
  st.kept[#st.kept + 1] = { arg = st.argv[i], pos = i }
  return #st.kept
end

-- Whether word w, after the command words so far, still names a command or group.
local function continues(st, w)
  local words = st.words
  local path = #words > 0 and (table.concat(words, " ") .. " " .. w) or w
  return st.commands.COMMANDS[path] ~= nil or st.commands.is_group(path)
end

-- Whether the argument after an option's is one of its values. first: no value yet.
local function takes(st, spec, inline, nxt, first)
  if not spec then -- unknown: its next argument may be its value, never a command word
    return first and not inline and not is_dash(nxt)
  elseif spec.kind == "value" or spec.kind == "repeat" then
    return first and not inline and (not is_dash(nxt) or nxt:match("^%-%d") ~= nil)
  elseif spec.kind == "multi" then
    -- a name, then actions; before the command, actions hold a '/', as no command word does
    if st.cmd then return nxt:sub(1, 1) ~= "-" end
    return not is_dash(nxt) and ((first and not inline) or nxt:find("/", 1, true) ~= nil
      or not continues(st, nxt))
  end
  return false
end

-- Reads the option at argv[i] and its values; returns the index of its last one.
local function read_option(st, i)
  local a = st.argv[i]
  local name, inline = option_of(a, st.short)
  local spec = st.long[name]
  local item = { arg = a, pos = i, k = keep(st, i), values = {} }
  st.items[#st.items + 1] = item
  if not spec and not st.cmd and not st.unknown then
    st.unknown = a:match("^%-%-[%w][%w-]*") or a:match("^%-%a$") or ("(argument #" .. i .. ")")
  end
  while st.argv[i + 1] and takes(st, spec, inline, st.argv[i + 1], #item.values == 0) do
    i = i + 1
    item.values[#item.values + 1] = keep(st, i)
  end
  return i
end

-- A word after the command: the next action of the option whose values it follows
-- (acr --repository app scope-map create content/read), else a stray argument.
local function read_stray(st, i)
  local last = st.items[#st.items]
  local spec = last and not last.stray and st.long[option_of(last.arg, st.short)]
  local k = keep(st, i)
  if spec and spec.kind == "multi" and st.argv[i]:sub(1, 1) ~= "-" then
    last.values[#last.values + 1] = k
  else
    st.items[#st.items + 1] = { arg = st.argv[i], pos = i, k = k, stray = true }
  end
end

-- A command word: returns false when the words name no command or group.
local function read_word(st, i)
  local prefix = table.concat(st.words, " ")
  st.words[#st.words + 1] = st.argv[i]
  local path = table.concat(st.words, " ")
  st.cmd = st.commands.COMMANDS[path]
  if st.cmd or st.commands.is_group(path) then return true end
  st.bad, st.prefix = i, prefix
  return false
end

-- syntax: line = args.read(argv, commands)
--   commands: { COMMANDS = path -> spec, ORDER = {path…}, is_group = function(prefix) }
--   line.cmd: the command, or nil; then line says why: secret (the option as written,
--   without a value), unknown, bad (the index of the word that is no command), prefix
--   (the command words before it), help (-h or --help was given)
function _M.read(argv, commands)
  local long, short = all_options(commands)
  local secret = secret_in(argv, long, short)
  if secret then return { secret = secret } end
  local st = { argv = argv, long = long, short = short, commands = commands, words = {},
               kept = {}, items = {} }
  local i = 1
  while argv[i] do
    if is_dash(argv[i]) then i = read_option(st, i)
    elseif st.cmd then read_stray(st, i)
    elseif not read_word(st, i) then break end
    i = i + 1
  end
  local help = false
  for _, kept in ipairs(st.kept) do help = help or kept.arg == "-h" or kept.arg == "--help" end
  return { cmd = st.cmd, kept = st.kept, items = st.items, unknown = st.unknown, bad = st.bad,
           prefix = st.prefix or table.concat(st.words, " "), help = help }
end

---------------------------------------------------------------------------
-- checking against the command
---------------------------------------------------------------------------

-- syntax: spec = args.spec_of(cmd, name)  -- the option as cmd takes it, or nil
-- The command's own spec wins over the common one (audit's --subscription repeats);
-- false in cmd.opts drops a common option, and own_clients drops -r and -g.
function _M.spec_of(cmd, name)
  local own = cmd.opts and cmd.opts[name]
  if own ~= nil then return own or nil end
  if cmd.own_clients and ONE_REGISTRY[name] then return nil end
  return COMMON[name]
end
local spec_of = _M.spec_of

-- syntax: bool = args.has_common(cmd, name)  -- cmd takes COMMON[name] as it is
function _M.has_common(cmd, name)
  return COMMON[name] ~= nil and spec_of(cmd, name) == COMMON[name]
end

local function short_of(cmd, letter)
  for name, o in pairs(COMMON) do
    if o.short == letter and spec_of(cmd, name) then return name end
  end
  for name, o in pairs(cmd.opts or {}) do if o and o.short == letter then return name end end
end

-- Never echoed: it may be a value meant for an option that takes none; nor is the
-- argument before it unless it is an option.
local function unexpected(line, k)
  local prev = line.kept[k - 1] and line.kept[k - 1].arg
  local opt = prev and prev:match("^%-%-?[%a][%w-]*")
  usage(("unexpected argument #%d%s"):format(line.kept[k].pos, opt and (" after " .. opt) or ""),
    line.cmd)
end

local function unknown_option(written, cmd)
  if secret_option(written:gsub("^%-%-?", "")) then usage(written .. _M.SECRET_MESSAGE, cmd) end
  usage("unknown option " .. written, cmd)
end

-- The name and spec of the option an item is, for its command; its inline value.
local function option_for(line, item)
  local cmd, a = line.cmd, item.arg
  if a:sub(1, 2) == "--" and #a > 2 then
    local name, inline = a:match("^%-%-([^=]+)=(.*)$")
    name = name or a:sub(3)
    local spec = spec_of(cmd, name)
    if not spec then unknown_option("--" .. name, cmd) end
    return name, spec, inline
  elseif a:match("^%-%a$") then
    local name = short_of(cmd, a:sub(2))
    if not name then unknown_option(a, cmd) end
    return name, spec_of(cmd, name)
  end
  unexpected(line, item.k)
end

local function set_flag(_, o, name, _, inline, cmd)
  if inline then usage("--" .. name .. " takes no value", cmd) end
  o[name] = true
end

local function set_value(line, o, name, item, inline, cmd)
  local v = inline or (item.values[1] and line.kept[item.values[1]].arg)
  if not v then usage("--" .. name .. " needs a value", cmd) end
  if v == "" then usage("--" .. name .. " must not be empty", cmd) end
  if o[name] ~= nil then usage("--" .. name .. " was given twice", cmd) end
  o[name] = v
end

-- --opt NAME VALUE… (repeatable): o._multi[name] holds one list per time it is given.
local function add_group(line, o, name, item, inline, cmd)
  local group, cut = {}, nil
  if inline then group[1] = inline end
  for _, k in ipairs(item.values) do
    local v = line.kept[k].arg
    if v:sub(1, 1) == "-" then cut = k; break end
    group[#group + 1] = v
  end
  if #group < 2 then usage("--" .. name .. " needs a name and at least one action", cmd) end
  o._multi[name] = o._multi[name] or {}
  table.insert(o._multi[name], group)
  if cut then unexpected(line, cut) end
end

-- --opt VALUE, repeatable: o[name] is the list of the values, in their order.
local function add_value(line, o, name, item, inline, cmd)
  local v = inline or (item.values[1] and line.kept[item.values[1]].arg)
  if not v then usage("--" .. name .. " needs a value", cmd) end
  if v == "" then usage("--" .. name .. " must not be empty", cmd) end
  o[name] = o[name] or {}
  table.insert(o[name], v)
end

local SETTERS = { flag = set_flag, value = set_value, multi = add_group, ["repeat"] = add_value }

-- syntax: o = args.options(line)  -- raises usage errors, the first in the arguments' order
--   o[name]: a value, or true for a flag, or the list of a repeat option's values;
--   o._multi[name]: the groups of a multi option
function _M.options(line)
  local o = { _multi = {} }
  for _, item in ipairs(line.items) do
    if item.stray then unexpected(line, item.k) end
    local name, spec, inline = option_for(line, item)
    SETTERS[spec.kind](line, o, name, item, inline, line.cmd)
  end
  return o
end

return _M
