-- acr.desired.current — what ARM has now for the registries of a desired state: their
-- scope maps and tokens, read all together (every registry's two listings at once,
-- each listing's pages in turn) through one acr.batch.
--
--   local now, failures = current.read(entries, { width = 32 })
--   -- entries: { { client = c, registry = reg }, … } (reg: a registry of the file)
--   -- now[i] = { scope_maps = { [lower name] = acr.ScopeMap }, tokens = { [lower name] = acr.Token } }
--   -- failures: { { registry = reg, err = acr.Error }, … }; now[i] is nil for those
local acr = require "acr"
local batch = require "acr.batch"

local _M = {}

-- One listing: the pager of `what` ("scope_maps" or "tokens") of entry i, and what it
-- has found so far. Its next page is a batch job; on_done adds the one after.
local function listing(entry, i, what)
  return { i = i, what = what, pager = entry.client[what](entry.client), items = {} }
end

local function page_job(l)
  return function()
    local op, err = l.pager:next_operation()
    l.op = op
    if op == nil and err == nil then return true end   -- past the last page
    return op, err
  end
end

local KIND = { scope_maps = "scope_map", tokens = "token" }

-- A token's scope map must be one of its own registry's: its name is what the plan
-- compares and deletes by.
-- prefix: the registry's id, lower-cased, with "/scopemaps/"
local function valid_scope_map_id(prefix, id)
  if id == nil then return true end
  if type(id) ~= "string" then return false end
  return id:sub(1, #prefix):lower() == prefix and acr._valid_name("scope_map", id:sub(#prefix + 1))
end

-- Files a listing's items by lower-cased name; what the service sent is checked first,
-- since names become URLs (a delete) and keys: nil, or an InvalidResponse.
local function take_items(into, l, client)
  local prefix = client:registry_id():lower() .. "/scopemaps/"
  for _, item in ipairs(l.items) do
    local name = item.name
    if not acr._valid_name(KIND[l.what], name) then
      return acr.error("InvalidResponse", ("a %s name from the service breaks the API's rules")
        :format(KIND[l.what]:gsub("_", " ")))
    end
    if into[name:lower()] then
      return acr.error("InvalidResponse", "the service listed '" .. name .. "' twice")
    end
    if l.what == "tokens" and not valid_scope_map_id(prefix, item.scope_map_id) then
      return acr.error("InvalidResponse", "token '" .. name .. "' names a scope map that is not of this registry")
    end
    into[name:lower()] = item
  end
end

-- syntax: state, failures = current.read(entries, {width=?})
function _M.read(entries, opts)
  local lists, state, failed = {}, {}, {}
  for i, entry in ipairs(entries) do
    lists[#lists + 1] = listing(entry, i, "scope_maps")
    lists[#lists + 1] = listing(entry, i, "tokens")
    state[i] = { scope_maps = {}, tokens = {} }
  end
  local job_list = {}   -- batch job index -> listing
  local jobs = {}
  for k, l in ipairs(lists) do
    jobs[k] = page_job(l)
    job_list[k] = l
  end
  local function on_done(j, value, err, b)
    local l = job_list[j]
    job_list[j] = nil
    if failed[l.i] then return end
    if value == true and not l.op then return end      -- that listing is complete
    local items
    if value ~= nil then items, err = l.pager:take(l.op) end
    if not items then
      failed[l.i] = err
      return
    end
    for _, item in ipairs(items) do l.items[#l.items + 1] = item end
    job_list[b:add(page_job(l), true)] = l
  end
  batch.run(jobs, { width = opts and opts.width or 32, on_done = on_done })
  local failures = {}
  for i, entry in ipairs(entries) do
    if failed[i] then
      failures[#failures + 1] = { registry = entry.registry, err = failed[i] }
      state[i] = nil
    end
  end
  for _, l in ipairs(lists) do
    local s = state[l.i]
    local err = s and take_items(s[l.what], l, entries[l.i].client)
    if err then
      failures[#failures + 1] = { registry = entries[l.i].registry, err = err }
      state[l.i] = nil
    end
  end
  return state, failures
end

return _M
