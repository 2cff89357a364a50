-- ARM's request throttling, as the token-bucket model of 2024 describes it: per
-- subscription one bucket per kind of request (reads = GET/HEAD, writes =
-- PUT/PATCH/POST, deletes = DELETE), each holding at most `burst` tokens and
-- refilled at `rate` tokens a second. A request takes one token of its kind; an
-- empty bucket answers 429 SubscriptionRequestsThrottled. Off by default: then the
-- remaining-headers are the old counters, which never run out.
--
-- Buckets live in this module's tables: the emulator runs one nginx worker, so
-- every request sees the same ones (as it does every other piece of state).

local json = require "acr.emulator.json"

local _M = { _VERSION = "0.1.0" }

local unpack = unpack or table.unpack

local KINDS = { "reads", "writes", "deletes" }
local SINGULAR = { reads = "read", writes = "write", deletes = "delete" }

-- ARM's published sizes: kind -> { burst, rate per second }
_M.ARM = { reads = { 250, 25 }, writes = { 200, 10 }, deletes = { 200, 10 } }

local MAX = 1e9   -- keeps the numbers exact and the JSON readable

local config = false   -- false, or kind -> { burst, rate }
local buckets = {}     -- lower(subscription) .. "/" .. kind -> { tokens =, at = }
local legacy = {}      -- kind -> the counter sent while throttling is off

-- syntax: kind = throttle.kind(method)   "reads" | "writes" | "deletes"
function _M.kind(method)
  if method == "GET" or method == "HEAD" then return "reads" end
  if method == "DELETE" then return "deletes" end
  return "writes"
end

local function check_pair(kind, burst, rate)
  if type(burst) ~= "number" or burst ~= math.floor(burst) or burst < 1 or burst > MAX then
    return nil, "bucket of '" .. kind .. "' must be a whole number in [1, " .. MAX .. "]"
  end
  if type(rate) ~= "number" or rate ~= rate or rate <= 0 or rate > MAX then
    return nil, "refill of '" .. kind .. "' must be a number of tokens a second in (0, " .. MAX .. "]"
  end
  return { burst, rate }
end

-- Kinds not named keep ARM's sizes. The result keeps ARM's kind order, so
-- GET /__admin/settings reads {"reads":[b,r],"writes":[b,r],"deletes":[b,r]}.
local function complete(given)
  local args = {}
  for _, kind in ipairs(KINDS) do
    local p = given[kind] or _M.ARM[kind]
    args[#args + 1] = kind
    args[#args + 1] = json.array { p[1], p[2] }
  end
  return json.object(unpack(args))
end

-- "reads=5/1,writes=200/10": the flag's syntax, also accepted by the admin call.
local function parse(spec)
  local given = {}
  for item in (spec .. ","):gmatch("([^,]*),") do
    local kind, burst, rate = item:match("^%s*(%a+)=([%d.]+)/([%d.]+)%s*$")
    if not kind then
      return nil, "'" .. item .. "' is not KIND=BUCKET/REFILL (e.g. reads=250/25)"
    end
    if not SINGULAR[kind] then return nil, "unknown kind '" .. kind .. "' (reads, writes, deletes)" end
    if given[kind] then return nil, "names '" .. kind .. "' twice" end
    local pair, err = check_pair(kind, tonumber(burst), tonumber(rate))
    if not pair then return nil, err end
    given[kind] = pair
  end
  return complete(given)
end

-- { reads = {burst, rate}, … } as JSON gives it.
local function from_object(t)
  local given = {}
  for kind, v in pairs(t) do
    if not SINGULAR[kind] then return nil, "unknown kind '" .. tostring(kind) .. "' (reads, writes, deletes)" end
    if type(v) ~= "table" or not json.is_array(v) or #v ~= 2 then
      return nil, "'" .. kind .. "' must be [bucket, refill per second]"
    end
    local pair, err = check_pair(kind, v[1], v[2])
    if not pair then return nil, err end
    given[kind] = pair
  end
  return complete(given)
end

-- syntax: value, err = throttle.check(v)   the checker of the "throttle" setting
-- true: ARM's sizes; false: off; a "KIND=BUCKET/REFILL,…" string or a
-- {KIND = {bucket, refill}} object: those kinds, ARM's sizes for the rest.
function _M.check(v)
  if v == false then return false end
  if v == true then return complete {} end
  if type(v) == "string" then
    if v == "" then return nil, "must not be empty" end
    return parse(v)
  end
  if type(v) == "table" and json.is_object(v) then return from_object(v) end
  return nil, "must be true, false, \"KIND=BUCKET/REFILL,…\" or {\"KIND\":[bucket, refill]}"
end

-- syntax: throttle.configure(value)   a checked value; every bucket starts full again
function _M.configure(v)
  config = v and {} or false
  if v then
    for _, kind in ipairs(KINDS) do config[kind] = { v[kind][1], v[kind][2] } end
  end
  buckets = {}
end

-- syntax: throttle.reset()   full buckets, and the old counters from the top
function _M.reset()
  buckets = {}
  legacy = { reads = 12000, writes = 1200, deletes = 15000 }
end
_M.reset()

-- Tokens are fractional inside; a bucket is made full the first time it is used.
local function refill(sub, kind)
  local burst, rate = config[kind][1], config[kind][2]
  ngx.update_time()
  local now = ngx.now()
  local key = sub:lower() .. "/" .. kind   -- subscription ids are GUIDs: any case
  local b = buckets[key]
  if not b then
    b = { tokens = burst, at = now }
    buckets[key] = b
  end
  -- max(): a clock stepped back must not drain the bucket
  b.tokens = math.min(burst, b.tokens + math.max(0, now - b.at) * rate)
  b.at = now
  return b, rate
end

local function message(kind, sub, actor, wait)
  return "Number of '" .. SINGULAR[kind] .. "' requests for subscription '" .. sub .. "' actor '"
    .. actor .. "' exceeded. Please try again after '" .. wait .. "' seconds after the additional "
    .. "tokens are available. Refer to https://aka.ms/arm-throttling for additional information."
end

-- syntax: wait, message = throttle.charge(ctx, subscription, claims)
-- Takes a token for this ARM request (when throttling is on and the path names a
-- subscription) and notes what is left in ctx for the remaining-header. Returns
-- nothing when the request may go on, else the Retry-After seconds (the time until
-- one token is back, rounded up, at least 1) and ARM's message for the 429.
function _M.charge(ctx, sub, claims)
  if not config or not sub then return end
  local kind = _M.kind(ngx.req.get_method())
  local b, rate = refill(sub, kind)
  if b.tokens < 1 then
    local wait = math.max(1, math.ceil((1 - b.tokens) / rate))
    ctx.ratelimit, ctx.throttled = 0, true
    return wait, message(kind, sub, claims.oid or claims.appid or claims.sub or "", wait)
  end
  b.tokens = b.tokens - 1
  ctx.ratelimit = math.floor(b.tokens)
  return nil
end

-- syntax: throttle.header(h, ctx)   sets x-ms-ratelimit-remaining-subscription-<kind>
-- When on, only a request that was charged carries it (a 401, a fault or a path
-- without a subscription was not, as ARM reports only the budget it charged).
-- When off, the old counters: they count down and wrap at half their top.
function _M.header(h, ctx)
  local kind = _M.kind(ngx.req.get_method())
  local name = "x-ms-ratelimit-remaining-subscription-" .. kind
  if config then
    if ctx.ratelimit then h[name] = tostring(ctx.ratelimit) end
    return
  end
  -- wrapping at half the top: a client that paces by the header never sees an
  -- emptying bucket where nothing throttles
  local top = kind == "reads" and 11999 or kind == "writes" and 1199 or 14999
  local left = legacy[kind] - 1
  if left < top / 2 then left = top end
  legacy[kind] = left
  h[name] = tostring(left)
end

return _M
