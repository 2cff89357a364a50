-- acr.resty: runs acr's operations inside nginx without blocking the worker.
--
-- The C core decides everything (retries, tokens, LRO polling, paging) and never
-- does I/O here: each acr.Operation says which request to send next
-- (op:next_request()) and how long to wait first (op:delay()); this module sends it
-- over a cosocket (acr.resty.http), waits with ngx.sleep, and feeds the answer back
-- (op:feed()). Every wait yields to nginx's event loop, so a worker serves other
-- requests while an operation polls. Credential token requests come out of the same
-- op:next_request() (with auth = true) and take the same path.
--
--   local r = require "acr.resty"
--   local tok, err = r.run(client:prepare("create_token", "ci", { scope_map = "ci-pull" }))
--   local rc = r.wrap(client)                      -- the client's methods, over cosockets
--   for t in rc:tokens() do ngx.say(t.name) end
--
-- See docs/RESTY.md. This file is the module's face (the r.* functions); the parts:
--   checks.lua   what an entry point checks: argument, phase, options, credential
--   token.lua    token requests in single flight
--   driver.lua   an operation's exchanges over cosockets, its waits, the drive loop
--   paging.lua   a pager's pages and items
--   wrap.lua     a client's (operation's, pager's, resource's) face over cosockets
--   util.lua     type names, errors of acr.Error's kind
--   http.lua     the HTTP/1.1 client over ngx.socket.tcp

local http = require "acr.resty.http"
local checks = require "acr.resty.checks"
local token = require "acr.resty.token"
local driver = require "acr.resty.driver"
local paging = require "acr.resty.paging"
local wrap = require "acr.resty.wrap"

local pairs = pairs
local enter, check_op, check_pager = checks.enter, checks.check_op, checks.check_pager
local drive, drive_for, result, poll, start =
  driver.drive, driver.drive_for, driver.result, driver.poll, driver.start
local next_page, next_item = paging.next_page, paging.next_item

local _M = { _VERSION = "0.1.0", http = http, wrap = wrap.wrap }

-- syntax: value, err = r.run(op, opts?)
function _M.run(op, opts)
  drive(op, enter("acr.resty.run", check_op, op, opts))
  return result(op)
end
_M.result = _M.run

-- syntax: value, err = r.wait(op, max_seconds?, opts?)
function _M.wait(op, max, opts)
  drive_for(op, enter("acr.resty.wait", check_op, op, opts, true, max), max)
  return result(op)
end

-- syntax: status = r.poll(op, opts?)
function _M.poll(op, opts)
  return poll(op, enter("acr.resty.poll", check_op, op, opts))
end

-- syntax: op = r.start(op, opts?)
function _M.start(op, opts)
  return start(op, enter("acr.resty.start", check_op, op, opts))
end

-- syntax: items, err = r.next_page(pager, opts?)
function _M.next_page(pager, opts)
  return next_page(pager, enter("acr.resty.next_page", check_pager, pager, opts))
end

-- syntax: for item in r.each(pager, opts?) do … end
function _M.each(pager, opts)
  local o = enter("acr.resty.each", check_pager, pager, opts)
  local s = { pos = 0, count = 0 }
  return function() return next_item(s, pager, o) end
end

-- syntax: t = r.stats()
function _M.stats()
  local t = {}
  for k, v in pairs(http.stats) do t[k] = v end
  for k, v in pairs(driver.counters) do t[k] = v end
  for k, v in pairs(token.stats) do t[k] = v end
  return t
end

return _M
