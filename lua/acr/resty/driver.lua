-- acr.resty.driver: runs an acr.Operation's state machine over cosockets. The C core
-- says which request to send next (op:next_request()) and how long to wait first
-- (op:delay()); this sends it (acr.resty.token's fetch, over acr.resty.http), waits
-- with ngx.sleep, and feeds the answer back (op:feed()).

local token = require "acr.resty.token"
local util = require "acr.resty.util"

local ngx = ngx
local sleep, now, update_time = ngx.sleep, ngx.now, ngx.update_time
local fetch, new_error = token.fetch, util.new_error

-- operations driven, exchanges made, token requests among them, sleeps (in r.stats())
local counters = { operations = 0, exchanges = 0, auth_requests = 0, sleeps = 0 }

local _M = { counters = counters }

-- One exchange: send req, feed the answer (or the transport failure) to op.
local function exchange(op, req, o)
  counters.exchanges = counters.exchanges + 1
  if req.auth then counters.auth_requests = counters.auth_requests + 1 end
  local t0 = o.logger and (update_time() or now())
  local res, code, msg = fetch(req, o)
  if o.logger then
    update_time()
    -- method, URL, status, time: never a header or a body
    o.logger(res and res.status < 400 and "debug" or "warn",
      ("%s %s -> %s (%.0f ms, request id %s%s)"):format(req.method, req.url,
        res and res.status or code, (now() - t0) * 1000, op:request_id(),
        req.auth and ", token request" or ""))
  end
  if res then
    local body = res.body
    return op:feed(res.status, res.headers, body ~= "" and body or nil)
  end
  return op:feed(nil, nil, nil, code, msg)
end

-- Waits op:delay(), then makes one exchange. Returns false when nothing was sent
-- (the operation is done), "auth" after a token request, true otherwise. With a
-- deadline, returns "late" instead when the next request is due after it (having
-- waited until the deadline). The delay is asked again after each sleep: while this
-- thread slept, others of the worker may have taken the token the pacer saw coming
-- (the estimate is the client's), and then this request waits for the next one.
local function step(op, o, deadline)
  while true do
    local d = op:delay()
    if deadline then
      update_time()
      local left = deadline - now()
      if d > left then
        if left > 0 then sleep(left) end
        return "late"
      end
    end
    if d <= 0 then break end
    counters.sleeps = counters.sleeps + 1
    sleep(d > 0.001 and d or 0.001)   -- ngx.sleep rounds to milliseconds: never a spin
  end
  local req = op:next_request()
  if not req then
    -- ended, or held (the client's token requests wait out a back-off): op:delay() says
    -- how long, and the next step sleeps it
    return not op:done()
  end
  exchange(op, req, o)
  return req.auth and "auth" or true
end

-- Drives op to its end (or the deadline); returns true when done.
local function drive(op, o, deadline)
  counters.operations = counters.operations + 1
  while not op:done() do
    local s = step(op, o, deadline)
    if s == "late" then return false end
    if not s then break end
  end
  return op:done()
end
_M.drive = drive

-- The value of a finished operation. (op:result() on a running one would run the
-- blocking driver: never here.)
local function result(op)
  if not op:done() then return nil, new_error("Timeout", "the operation is still running") end
  return op:result()
end
_M.result = result

-- Drives op until it ends or max seconds from now (no limit when max is nil).
local function drive_for(op, o, max)
  update_time()
  drive(op, o, max and now() + max)
end
_M.drive_for = drive_for

-- Sends one request when one is due.
local function poll(op, o)
  if not op:done() and op:delay() <= 0 then step(op, o) end
  return op:status()
end
_M.poll = poll

-- Sends the call's own request (after a token request when one is needed) and
-- returns once it is answered: what the blocking begin_* methods do with libcurl.
local function start(op, o)
  while not op:done() do
    local s = step(op, o)
    if s ~= "auth" then break end
  end
  return op
end
_M.start = start

return _M
