-- acr.resty.paging: an acr.Pager's pages over cosockets, one page in memory at a time.

local driver = require "acr.resty.driver"
local util = require "acr.resty.util"

local error = error
local drive, new_error = driver.drive, util.new_error

local _M = {}

local function next_page(pager, o)
  local op, err = pager:next_operation()
  if not op then return nil, err end   -- the end, or the last page's nextLink refused
  drive(op, o)
  if not op:done() then return nil, new_error("Timeout", "the page request did not finish") end
  return pager:take(op)
end
_M.next_page = next_page

-- The next of a pager's items, one page in memory at a time (s holds the page,
-- pos, count and finished); a failure raises the acr.Error, as the C pager's
-- iterator does. With rc, items come wrapped (tokens, scope maps) by wrap(item, rc):
-- acr.resty.wrap's, passed in since that module builds on this one.
local function next_item(s, pager, o, rc, wrap)
  while true do
    if s.pos < s.count then
      local page = s.page
      s.pos = s.pos + 1
      local item = page[s.pos]
      page[s.pos] = nil
      if rc then return wrap(item, rc) end
      return item
    end
    if s.finished then return nil end
    local items, err = next_page(pager, o)
    if not items then
      s.finished, s.page = true, nil
      if err then error(err, 0) end
      return nil
    end
    s.page, s.pos, s.count = items, 0, #items
  end
end
_M.next_item = next_item

return _M
