-- acr.cli.values — the values of options, checked as the module checks them: scope map
-- actions from --repository and --gateway groups (by the rule of src/names.c), the
-- expiry of generated passwords, a token's status. A bad value is a usage error
-- (exit 2), raised before anything is read or sent.

local fail = require "acr.cli.fail"

local _M = {}

local function set_of(list)
  local s = {}
  for _, v in ipairs(list) do s[v] = true end
  return s
end

-- Whether lists a and b hold the same members, in any order.
local function same_set(a, b)
  local sa, sb = set_of(a), set_of(b)
  for x in pairs(sa) do if not sb[x] then return false end end
  for x in pairs(sb) do if not sa[x] then return false end end
  return true
end

local REPO_ACTIONS = { "content/read", "content/write", "content/delete", "metadata/read",
                       "metadata/write" }
local GATEWAY_ACTIONS = { "config/read", "config/write", "message/read", "message/write" }
local REPO_ACTION_SET, GATEWAY_ACTION_SET = set_of(REPO_ACTIONS), set_of(GATEWAY_ACTIONS)

---------------------------------------------------------------------------
-- option values
---------------------------------------------------------------------------

-- Repository and gateway names by the module's rule for scope map actions (src/names.c,
-- docs/API.md "Scope map actions"), so that the command line refuses, before anything
-- is read or sent, what the module would refuse after.

-- One path component: lower-case letters and digits, '.', '_' and '-' inside only.
local function component_ok(c)
  return c:find("^[a-z0-9]$") ~= nil or c:find("^[a-z0-9][a-z0-9._-]*[a-z0-9]$") ~= nil
end

-- "*", or components joined by '/' (none empty), optionally ending in a "*"
-- component (every repository under that prefix); at most 256 characters.
local function repository_ok(repo)
  if repo == "*" then return true end
  if #repo == 0 or #repo > 256 then return false end
  local body = #repo > 2 and repo:match("^(.*)/%*$") or repo
  for c in (body .. "/"):gmatch("([^/]*)/") do
    if not component_ok(c) then return false end
  end
  return true
end

local function check_repository(repo, cmd, flag)
  if not repository_ok(repo) then
    fail.usage(("%s '%s' is not a repository name (components of lower-case letters and digits, "
      .. "with '.', '_' or '-' inside, joined by '/'; '*', or a last component '*')")
      :format(flag, repo), cmd)
  end
end

-- A connected registry: 5 to 50 ASCII letters and digits.
local function check_gateway(gw, cmd, flag)
  if #gw < 5 or #gw > 50 or not gw:find("^[A-Za-z0-9]+$") then
    fail.usage(("%s '%s' is not a gateway (connected registry) name (5 to 50 letters and "
      .. "digits)"):format(flag, gw), cmd)
  end
end

-- What a --repository or a --gateway group makes: ACTION_KINDS.repository and .gateway.
local ACTION_KINDS = {
  repository = { prefix = "repositories/", verbs = REPO_ACTIONS, set = REPO_ACTION_SET,
                 check = check_repository },
  gateway = { prefix = "gateway/", verbs = GATEWAY_ACTIONS, set = GATEWAY_ACTION_SET,
              check = check_gateway },
}

-- {{"app", "content/read", …}, …} -> {"repositories/app/content/read", …} (a gateway's:
-- "gateway/NAME/…"), appended to list. flag: the option, for the messages.
local function add_actions(list, kind, groups, cmd, flag)
  local k = ACTION_KINDS[kind]
  for _, g in ipairs(groups or {}) do
    k.check(g[1], cmd, flag)
    for i = 2, #g do
      if not k.set[g[i]] then
        fail.usage(("%s %s: '%s' is not a %s action (%s)"):format(flag, g[1], g[i], kind,
          table.concat(k.verbs, ", ")), cmd)
      end
      list[#list + 1] = k.prefix .. g[1] .. "/" .. g[i]
    end
  end
  return list
end

-- The actions of o's --REPO_FLAG groups, then of its --GW_FLAG groups.
local function actions_from(o, cmd, repo_flag, gw_flag)
  local list = add_actions({}, "repository", o._multi[repo_flag], cmd, "--" .. repo_flag)
  return add_actions(list, "gateway", o._multi[gw_flag], cmd, "--" .. gw_flag)
end

local function is_rfc3339(s)
  local y, mo, d, h, mi, sec, rest = s:match("^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d):(%d%d)(.*)$")
  if not y then return false end
  mo, d, h, mi, sec = tonumber(mo), tonumber(d), tonumber(h), tonumber(mi), tonumber(sec)
  if mo < 1 or mo > 12 or d < 1 or d > 31 or h > 23 or mi > 59 or sec > 60 then return false end
  rest = rest:gsub("^%.%d+", "")
  return rest == "Z" or rest == "z" or rest:match("^[+-]%d%d:%d%d$") ~= nil
end

-- The expiry of generated passwords, or nil.
local function expiry_from(o, cmd)
  local days, at = o["expiration-in-days"], o.expiration
  if days and at then fail.usage("give --expiration-in-days or --expiration, not both", cmd) end
  if days then
    local n = tonumber(days)
    if not n or n < 1 or n ~= math.floor(n) or n > 36500 then
      fail.usage("--expiration-in-days must be a whole number of days, 1 or more", cmd)
    end
    return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + n * 86400)
  end
  if at then
    if not is_rfc3339(at) then
      fail.usage("--expiration must be an RFC 3339 time, e.g. 2027-01-01T00:00:00Z", cmd)
    end
    return at
  end
end

local function check_status(s, cmd)
  if s and s ~= "enabled" and s ~= "disabled" then
    fail.usage("--status must be enabled or disabled", cmd)
  end
  return s
end

_M.set_of, _M.same_set = set_of, same_set
_M.REPO_ACTIONS, _M.GATEWAY_ACTIONS = REPO_ACTIONS, GATEWAY_ACTIONS
_M.actions_from, _M.expiry_from, _M.check_status = actions_from, expiry_from, check_status

return _M
