-- acr.cli — the `acr` command line: scope maps and tokens of one registry, after
-- `az acr scope-map` and `az acr token`. bin/acr is a launcher for main().
--
-- syntax: code = require("acr.cli").main(argv)
-- context: command line (blocking); returns the exit status:
--   0 success, 1 an error (the service, authentication, the transport), 2 usage,
--   3 the resource was not found (as az's ResourceNotFoundError).
--
-- Works on Lua 5.4 and LuaJIT. Nothing here keeps a secret: generated passwords go
-- to stdout once, in the output; credentials come from the environment only.
--
-- The parts: args (the parser), commands (the command table), help, config (the
-- connection from options and environment), operation (running what a command
-- asks), prompt (the terminal), output (formats and delivery), fail (exit statuses).

local acr = require "acr"
local args = require "acr.cli.args"
local commands = require "acr.cli.commands"
local config = require "acr.cli.config"
local document = require "acr.cli.document"
local fail = require "acr.cli.fail"
local help = require "acr.cli.help"
local output = require "acr.cli.output"
local prompt = require "acr.cli.prompt"

local _M = { _VERSION = acr._VERSION }
_M.doc = "docs/CLI.md"   -- named by acr -h; bin/acr sets the installed copy's path
_M.json_encode = document.json_encode

local PROG = "acr"

-- A usage error: its one line, then where the help is (the command's, the group's, the
-- tool's), as a usage error says it in az.
local function usage_error(path, msg)
  local where = path ~= "" and (PROG .. " " .. path) or PROG
  io.stderr:write(where, ": error: ", msg, "\nTry '", where, " --help'\n")
  return fail.EXIT_USAGE
end

-- A command line that names no command: --version, -h, or a usage error pointing to
-- the help of the group it got to. A word that is not a command's is never repeated: it
-- may be a misplaced value.
local function without_command(argv, line)
  local prefix = line.prefix or ""
  local text = help.of(commands, prefix, _M.doc)
  local msg
  if line.secret then
    msg = line.secret .. args.SECRET_MESSAGE
  elseif prefix == "" and not line.bad and argv[1] == "--version" then
    output.out(PROG .. " " .. tostring(acr._VERSION) .. "\n")
    return fail.EXIT_OK
  elseif line.help and not line.bad and not line.unknown then
    output.out(text)
    return fail.EXIT_OK
  else
    msg = line.unknown and ("unknown option " .. line.unknown)
      or line.bad and ("unknown command (argument #%d%s)"):format(line.bad,
        prefix ~= "" and (" after '" .. prefix .. "'") or "")
      or prefix == "" and "a command is required"
      or ("'" .. prefix .. "' needs a command")
  end
  return usage_error(commands.is_group(prefix) and prefix or "", msg)
end

-- Parses the options, then runs the command (nothing for -h but its help); returns
-- what the command's run returns (an exit status, or nothing). A command with
-- own_clients makes its clients itself (config.client_for): ctx.client is not made.
local function run_command(ctx, line)
  local o = args.options(line)
  if o.help then
    output.out(help.command(ctx.cmd))
    return
  end
  config.settle(o, ctx.cmd)
  ctx.o = o
  -- nothing is asked of the service when its answer could not be delivered
  if output.closed() and o.output ~= "none" then
    output.refuse()
    fail.lost()
  end
  ctx.spinner = prompt.isatty(2)
  if not ctx.cmd.own_clients then ctx.client = config.client(o) end
  return ctx.cmd.run(ctx, o)
end

-- Every client of the command line, closed whatever happened (close is idempotent).
local function close_clients(ctx)
  for _, c in ipairs(ctx.o and ctx.o._clients or {}) do pcall(c.close, c) end
end

-- The exit status for what the command raised.
local function exit_for(cmd, e)
  if fail.is_usage(e) then
    if e.lost then return fail.EXIT_SERVICE end
    if e.cli then
      io.stderr:write("ERROR: ", e.message, "\n")
      return e.exit or (e.not_found and fail.EXIT_NOT_FOUND) or fail.EXIT_SERVICE
    end
    return usage_error(cmd.path, e.message)
  end
  if acr.is_error(e) then return fail.report(e) end
  io.stderr:write(PROG, ": internal error: ", tostring(e), "\n")
  return fail.EXIT_SERVICE
end

local function run_main(argv)
  local line = args.read(argv, commands)
  if not line.cmd then return without_command(argv, line) end
  local ctx = { cmd = line.cmd }
  local ok, e = pcall(run_command, ctx, line)
  close_clients(ctx)
  -- a command may end with a status of its own: 1 when some of its work failed, said
  if ok then return type(e) == "number" and e or fail.EXIT_OK end
  return exit_for(line.cmd, e)
end

-- syntax: code = cli.main(argv)
-- Runs the command line, then makes sure its output was delivered: a write or flush
-- that failed (a full disk, a closed stdout) is exit 1, said on stderr. (A closed
-- pipe still ends the process with SIGPIPE, as for any other program.)
function _M.main(argv)
  output.start()
  return output.finish(run_main(argv or {}), PROG)
end

return _M
