-- Scope map actions as ACR accepts them. The same rule is in the module
-- (src/names.c), so a typo is refused there before it is sent; this copy is what
-- a client that skips the module's check (curl, another SDK) meets.
--
--   repositories/<repository>/content/read|write|delete
--   repositories/<repository>/metadata/read|write
--   gateway/<connected registry>/config/read|write
--   gateway/<connected registry>/message/read|write
--
-- <repository> is "*" (every repository), or path components joined by "/", each of
-- lower-case letters and digits with '.', '_' or '-' inside (not first or last),
-- optionally ending in "/*" (every repository under that prefix); at most 256
-- characters. <connected registry> is 5 to 50 ASCII letters and digits.

local _M = { _VERSION = "0.1.0" }

local REPO_ACTIONS = {
  ["content/read"] = true, ["content/write"] = true, ["content/delete"] = true,
  ["metadata/read"] = true, ["metadata/write"] = true,
}
local GATEWAY_ACTIONS = {
  ["config/read"] = true, ["config/write"] = true,
  ["message/read"] = true, ["message/write"] = true,
}

local function component_ok(c)
  return c:find("^[a-z0-9]$") ~= nil or c:find("^[a-z0-9][a-z0-9._-]*[a-z0-9]$") ~= nil
end

local function repository_ok(repo)
  if repo == "*" then return true end
  if #repo > 256 then return false end
  local body = repo:match("^(.*)/%*$") or repo   -- a prefix wildcard ends in "/*"
  -- split on "/" keeping empty parts, so "a//b" and "a/" are refused
  for c in (body .. "/"):gmatch("([^/]*)/") do
    if not component_ok(c) then return false end
  end
  return true
end

-- syntax: ok = actions.valid(action)
function _M.valid(a)
  local repo, verb = a:match("^repositories/(.+)/([a-z]+/[a-z]+)$")
  if repo then return REPO_ACTIONS[verb] == true and repository_ok(repo) end
  local gw, gverb = a:match("^gateway/([^/]+)/([a-z]+/[a-z]+)$")
  if gw then
    return GATEWAY_ACTIONS[gverb] == true and #gw >= 5 and #gw <= 50 and gw:find("^[%w]+$") ~= nil
  end
  return false
end

return _M
