-- The faults --fail-rate injects before an ARM request is processed: 429, 500,
-- 503 or a dropped connection, drawn from the seeded generator (state.prng), so a
-- seed gives the same sequence on every run.

local state = require "acr.emulator.state"
local R = require "acr.emulator.reply"

local _M = { _VERSION = "0.1.0" }

local S = state
local fail = R.fail

-- syntax: faulted = fault.maybe()   true: the request was answered (or dropped)
function _M.maybe()
  local rate = S.settings.fail_rate
  if rate <= 0 or S.prng:next() >= rate then return false end
  local pick = math.floor(S.prng:next() * 4)
  if pick == 3 then
    ngx.ctx.fault = "drop"
    ngx.exit(444)
    return true
  end
  local wait = tostring(math.min(S.settings.retry_after, 1))
  if pick == 0 then
    fail(429, "SubscriptionRequestsThrottled",
      "Number of requests for subscription exceeded the limit. Please try again after '" .. wait .. "' seconds.",
      { ["Retry-After"] = wait })
  elseif pick == 1 then
    fail(500, "InternalServerError", "Encountered internal server error (injected fault).")
  else
    fail(503, "ServiceUnavailable", "The service is temporarily unavailable (injected fault).",
      { ["Retry-After"] = wait })
  end
  return true
end

return _M
