-- acr.cli.operation — running what a command asks of the service: an
-- acr.Operation to its end (with a spinner on a terminal), or only started
-- (--no-wait), and listings page by page.

local fail = require "acr.cli.fail"
local output = require "acr.cli.output"

local printable = fail.printable

local _M = {}

local FRAMES = { "|", "/", "-", "\\" }

-- Shows the operation's status on stderr until it is done. op:wait(0.1) polls when
-- a poll is due and sleeps at most 0.1 s.
local function spin(op, label)
  local n, err = 0, io.stderr
  while not op:done() do
    n = n + 1
    -- the status is the service's word: no control character of it reaches the terminal
    err:write(("\r%s Running %s: %s "):format(FRAMES[n % #FRAMES + 1], printable(label),
      printable(op:status())))
    err:flush()
    op:wait(0.1)
  end
  err:write("\r\27[K")
  err:flush()
end

-- Drives an acr.Operation to its end; with a spinner on stderr when stderr is a
-- terminal.
local function drive(ctx, op, label)
  if ctx.spinner and not op:done() then spin(op, label) end
  local v, e = op:result()
  return fail.on(v, e)
end

-- --no-wait: drives the operation until the service has answered its first request
-- (a begin_* returns once it is sent).
local function started(ctx, op)
  local _, werr = op:wait_accepted()
  if werr then error(werr, 0) end
  if op:done() then fail.on(op:result()) end
  output.emit(ctx.o, "operation", { status = op:status(), request_id = op:request_id() })
end

-- syntax: v = operation.run(ctx, label, begin, ...)
-- Either starts (--no-wait) or runs the operation begin(...) returns; returns its
-- value, or nil after --no-wait.
function _M.run(ctx, label, begin, ...)
  local op = fail.guarded(begin, ...)
  if ctx.o["no-wait"] then
    started(ctx, op)
    return nil
  end
  return drive(ctx, op, label)
end

-- syntax: items = operation.list_all(ctx, pager_fn)  -- every item's to_table()
function _M.list_all(ctx, pager_fn)
  local items = {}
  local pager = fail.guarded(pager_fn, ctx.client)
  local ok, e = pcall(function()
    for item in pager do items[#items + 1] = item:to_table() end
  end)
  if not ok then error(e, 0) end
  return items
end

return _M
