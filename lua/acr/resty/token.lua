-- acr.resty.token: token requests in single flight. Concurrent operations of one
-- credential that all need a token wait for one request's answer and are all fed it,
-- so a cold worker makes one token request, not one per operation.

local http = require "acr.resty.http"

local ngx = ngx
local now, update_time = ngx.now, ngx.update_time
local pcall, tostring, tonumber = pcall, tostring, tonumber
local unpack = table.unpack or unpack

local ok_sema, semaphore = pcall(require, "ngx.semaphore")
if not ok_sema then semaphore = nil end

-- coalesced_auth: the token requests that waited for another's answer (in r.stats())
local stats = { coalesced_auth = 0 }

local _M = { stats = stats }

-- Token requests in flight, by request. The request runs in a timer (its own
-- context), so it finishes and wakes the others whatever becomes of the thread that
-- asked first (ngx.thread.kill, a client abort). Should that go wrong anyway, an
-- entry older than its timeout is dead and a waiter that gives up takes over.
local inflight = {}

local function auth_key(req)
  return req.method .. " " .. req.url .. "\n" .. (req.body or "")
end

local function guarded_request(req, o)
  local ok, res, code, msg = pcall(http.request, req, o)
  if not ok then return nil, "TransportError", "the token request raised: " .. tostring(res) end
  return res, code, msg
end

local function settle(key, f, res, code, msg)
  f.result = { res, code, msg }
  if inflight[key] == f then inflight[key] = nil end
  if f.waiters > 0 then f.sema:post(f.waiters) end
end

local function lead(key, req, o, limit)
  update_time()
  local f = { sema = semaphore.new(), waiters = 1, started = now() }
  inflight[key] = f
  local ok = ngx.timer.at(0, function()
    settle(key, f, guarded_request(req, o))
  end)
  if not ok then
    -- no timer to be had: ask from this thread
    f.waiters = 0
    local res, code, msg = guarded_request(req, o)
    settle(key, f, res, code, msg)
    return res, code, msg
  end
  if f.sema:wait(limit + 1) and f.result then return unpack(f.result, 1, 3) end
  if inflight[key] == f then inflight[key] = nil end
  return nil, "Timeout", "the token request did not finish"
end

-- Sends req (over http.request's cosocket), a token request in single flight where
-- ngx.semaphore is there; returns http.request's res, code, message.
local function fetch(req, o)
  if not (req.auth and semaphore) then return http.request(req, o) end
  local key = auth_key(req)
  local limit = tonumber(req.timeout) or o.timeout
  local f = inflight[key]
  update_time()
  if f and now() - f.started > limit + 1 then
    inflight[key], f = nil, nil   -- dead: its answer is long overdue
  end
  if not f then return lead(key, req, o, limit) end
  f.waiters = f.waiters + 1
  stats.coalesced_auth = stats.coalesced_auth + 1
  local left = f.started + limit + 1 - now()
  if left > 0 and f.sema:wait(left) and f.result then return unpack(f.result, 1, 3) end
  if f.result then return unpack(f.result, 1, 3) end
  -- the request we waited for never answered: drop it and ask ourselves
  if inflight[key] == f then inflight[key] = nil end
  return lead(key, req, o, limit)
end
_M.fetch = fetch

return _M
