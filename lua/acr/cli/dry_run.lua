-- acr.cli.dry_run — what a command given --dry-run prints instead of doing it: the
-- requests it would send (unsent) and how the resources would change, then that
-- nothing was changed.

local fail = require "acr.cli.fail"
local output = require "acr.cli.output"

local set_of = require("acr.cli.values").set_of

local _M = {}

-- "a, b" of a list; "(none)" when it is empty.
local function listed(l)
  return #l > 0 and table.concat(l, ", ") or "(none)"
end

-- The lines saying how fields change from before to after (both { field = string or
-- list of strings }); fields: their order. A list changes by its members.
local function diff(fields, before, after)
  local lines = {}
  for _, f in ipairs(fields) do
    local a, b = after[f], before and before[f]
    if type(a) == "table" then
      local had, has = set_of(type(b) == "table" and b or {}), set_of(a)
      local plus, minus = {}, {}
      for _, x in ipairs(a) do if not had[x] then plus[#plus + 1] = x end end
      for _, x in ipairs(type(b) == "table" and b or {}) do if not has[x] then minus[#minus + 1] = x end end
      if not before then
        lines[#lines + 1] = ("  %s: %s"):format(f, listed(a))
      else
        for _, x in ipairs(plus) do lines[#lines + 1] = ("  %s: + %s"):format(f, x) end
        for _, x in ipairs(minus) do lines[#lines + 1] = ("  %s: - %s"):format(f, x) end
      end
    elseif a ~= nil and a ~= b then
      lines[#lines + 1] = before and ("  %s: %s -> %s"):format(f, tostring(b or "(none)"), tostring(a))
        or ("  %s: %s"):format(f, tostring(a))
    end
  end
  return lines
end

-- syntax: step = dry_run.planned(ctx, what, op_name, ...)  -- the request client:op_name(...)
-- would send first, unsent: { what =, method =, url =, body = }. The credential's token
-- is in hand by then (the current state was read), so it is the ARM request; its
-- headers (the bearer token) are never shown.
function _M.planned(ctx, what, op_name, ...)
  local op = fail.guarded(ctx.client.prepare, ctx.client, op_name, ...)
  local req = op:next_request()
  if not req or req.auth then fail.failure("--dry-run: the request could not be prepared") end
  return { what = what, method = req.method, url = req.url, body = req.body }
end

-- syntax: dry_run.print_plan(o, steps)
-- Prints the plan of a --dry-run on stdout (text, whatever -o says; nothing with -o none):
-- each step's change, method and URL and body, then that nothing was changed.
function _M.print_plan(o, steps)
  if o.output == "none" then return end
  local lines = {}
  for _, st in ipairs(steps) do
    for _, l in ipairs(type(st.what) == "table" and st.what or { st.what }) do
      lines[#lines + 1] = fail.printable(l)
    end
    if st.method then
      lines[#lines + 1] = "  " .. st.method .. " " .. st.url
      if st.body and st.body ~= "" then lines[#lines + 1] = "  " .. fail.printable(st.body) end
    end
  end
  lines[#lines + 1] = "dry run: nothing was changed"
  output.out(table.concat(lines, "\n") .. "\n")
end

-- The fields a dry run compares: of a scope map, of a token.
_M.SM_FIELDS = { "description", "actions" }
_M.TOKEN_FIELDS = { "status", "scopeMapId" }

-- syntax: fields = dry_run.sm_fields(t)  -- of SM_FIELDS (t nil: nil); likewise token_fields
function _M.sm_fields(t)
  local p = t and t.properties or {}
  return t and { description = p.description, actions = p.actions or {} }
end

function _M.token_fields(t)
  local p = t and t.properties or {}
  return t and { status = p.status, scopeMapId = p.scopeMapId }
end

-- syntax: lines = dry_run.change_lines(noun, name, fields, before, after)
-- "would create KIND 'NAME'" and its fields, or "would change KIND 'NAME'" and the
-- changes (or that nothing changes).
function _M.change_lines(noun, name, fields, before, after)
  local head = before and ("would change " .. noun .. " '" .. name .. "'")
    or ("would create " .. noun .. " '" .. name .. "'")
  local lines = diff(fields, before, after)
  if before and #lines == 0 then head = head .. ": no field changes" end
  table.insert(lines, 1, head)
  return lines
end

return _M
