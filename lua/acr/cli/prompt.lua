-- acr.cli.prompt — the terminal: whether there is one, and the question a delete
-- asks on it before going on.

local fail = require "acr.cli.fail"

local _M = {}

local function sh_true(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

local STREAMS = { [0] = io.stdin, io.stdout, io.stderr }

-- syntax: bool = prompt.isatty(fd)  -- fd 0, 1 or 2: lua-system when it is there (not a
-- dependency), else test(1).
function _M.isatty(fd)
  local ok, system = pcall(require, "system")
  if ok and type(system) == "table" and system.isatty then
    local f = STREAMS[fd]
    local ok2, r = pcall(system.isatty, f)
    if ok2 then return r == true end
  end
  return sh_true("test -t " .. fd)
end

-- syntax: prompt.can_confirm(ctx, what)
-- Refuses (usage) to go on without --yes when there is no terminal to ask on: called
-- before any request.
function _M.can_confirm(ctx, what)
  if ctx.o.yes then return end
  if not _M.isatty(0) then
    fail.usage("refusing to " .. what .. " without --yes: stdin is not a terminal to ask on",
      ctx.cmd)
  end
end

-- y/yes: true; n/no or the end of input: false; anything else: nil (ask again).
local function answer_of(line)
  if line == nil then return false end
  line = line:lower():gsub("^%s+", ""):gsub("%s+$", "")
  if line == "y" or line == "yes" then return true end
  if line == "n" or line == "no" then return false end
end

-- syntax: prompt.confirm(ctx, what)  -- asks on a terminal; refuses (usage) with none;
-- a "no" is "Operation cancelled." (exit 1)
function _M.confirm(ctx, what)
  if ctx.o.yes then return end
  _M.can_confirm(ctx, what)
  io.stderr:write(what:sub(1, 1):upper(), what:sub(2), ".\n")
  local yes
  repeat
    io.stderr:write("Are you sure? (y/n): ")
    io.stderr:flush()
    yes = answer_of(io.stdin:read("*l"))
  until yes ~= nil
  if not yes then fail.failure("Operation cancelled.") end
end

return _M
