-- ARM's paged lists: items in key order, a page at a time, a nextLink whose
-- $skipToken names the last key given (so deletions do not shift the pages).

local state = require "acr.emulator.state"
local json = require "acr.emulator.json"
local util = require "acr.emulator.util"
local R = require "acr.emulator.reply"
local resource = require "acr.emulator.resource"
local validate = require "acr.emulator.validate"

local _M = { _VERSION = "0.1.0" }

local S = state
local reply, invalid = R.reply, validate.invalid

-- The key a $skipToken names: the list goes on after it (nil: from the start).
local function skip_after()
  local after
  for k, v in pairs(ngx.req.get_uri_args(100)) do
    if k:lower() == "$skiptoken" then
      after = type(v) == "string" and util.unb64url(v)
      if not after or after == "" then
        invalid("InvalidParameter", "The $skipToken query parameter is invalid.")
      end
    end
  end
  return after
end

-- The nextLink of a page that ends at key last (this path, this api-version).
local function next_link_after(ctx, last)
  local path = ngx.var.request_uri:gsub("%?.*$", "")
  return util.base_url() .. path .. "?api-version=" .. ctx.api_version .. "&$skipToken=" .. util.b64url(last)
end

-- syntax: paging.page(ctx, items, render_one, key?, value?, ...)
-- A page of items (key -> item), in key order after the $skipToken, rendered by
-- render_one; extra members of the answer (count) come after value and nextLink.
function _M.page(ctx, items, render_one, ...)
  local after = skip_after()
  local keys = {}
  for k in pairs(items) do
    if not after or k > after then keys[#keys + 1] = k end
  end
  table.sort(keys)
  local size = S.settings.page_size
  local value = json.array()
  for i = 1, math.min(size, #keys) do value[i] = render_one(items[keys[i]]) end
  local next_link
  if #keys > size then next_link = next_link_after(ctx, keys[size]) end
  return reply(200, json.object("value", value, "nextLink", next_link, ...))
end

-- syntax: paging.list(ctx, reg, coll)   GET of a registry's scope maps or tokens
function _M.list(ctx, reg, coll)
  return _M.page(ctx, reg[coll], function(res)
    -- a list is not a poll: only GETs of the resource itself advance body-style operations
    return resource.render(reg, coll, res)
  end)
end

return _M
