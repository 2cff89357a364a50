-- acr.desired.ledger — what a rotation has done to each password slot, kept across
-- runs: a run killed between generating a password and delivering it leaves
-- "intended" or "generated" behind, and the next run sees it and repairs that slot.
-- It holds states and times, never a password.
--
--   local ledger = require "acr.desired.ledger"
--   l, err = ledger.open(path)   -- a JSON file and PATH.journal, one line appended
--                                -- (fsync'd) per change, folded in at open; locked for the run
--   l = ledger.memory()          -- the same, kept in memory only
--   l:close()                    -- the lock let go; idempotent (also __close, and the
--                                -- lock's __gc once l is collected)
--   key = ledger.key(subscription, resource_group, registry, token)   -- lower-cased
--   ok, err = l:intend(key, slot, at)                 -- about to generate slot at epoch `at`
--   ok, err = l:generated(key, slot, creation_time)   -- ARM answered (RFC 3339)
--   ok, err = l:delivered(key, slot, creation_time)   -- the sink confirmed
--   e = l:get(key, slot)    -- nil or a copy of { state =, at =, creation_time = }
--   ok, err = l:forget(key, slot)
--   t = l:to_table()        -- a copy of every entry: t[key][slot] = e
--
-- slot is "password1" or "password2". A change that cannot be saved is not made (the
-- entry stays as it was) and returns nil, err; misuse raises (acr.check's shape), and
-- so does any call but to_table and close on a closed ledger.
--
-- One run at a time: open takes an exclusive flock(2) on PATH.lock (mode 0600, beside
-- the file, its directory made 0700 for it), without waiting, and holds it until close.
-- The file is written from what this run holds when it folds the journal in, so a
-- second run on the same file (a cron job that overlaps the last one; two desired-state files with
-- the default ledger) would lose the first one's records: it gets nil, "ledger PATH is
-- in use by another run (…)" instead. The file is read once the lock is held.
local check = require "acr.check"
local json = require "acr.json"
local cjson = require("cjson.safe").new()

local _M = { _VERSION = "0.1.0" }

local VERSION = 1
local SLOTS = { password1 = true, password2 = true }
local STATES = { intended = true, generated = true, delivered = true }

local Ledger = { __name = "acr.desired.Ledger" }
Ledger.__index = Ledger

local function sys() return require("acr")._sys end

-- syntax: key = ledger.key(subscription, resource_group, registry, token)
-- ARM compares these names case-insensitively: so does the ledger.
function _M.key(sub, rg, reg, token)
  local parts = { sub, rg, reg, token }
  for i = 1, 4 do
    if type(parts[i]) ~= "string" or parts[i] == "" or parts[i]:find("/", 1, true) then
      check.argerror("acr.desired.ledger.key", i, "a non-empty name without '/' expected, got "
        .. (type(parts[i]) == "string" and ("'" .. parts[i] .. "'") or check.type_of(parts[i])))
    end
    parts[i] = parts[i]:lower()
  end
  return table.concat(parts, "/")
end

local function check_call(fname, self, key, slot)
  if getmetatable(self) ~= Ledger then check.typeerror(fname, 1, "acr.desired.Ledger", self, 2) end
  if self.closed then
    check.argerror(fname, 1, "ledger " .. (self.path or "in memory") .. " is closed", 2)
  end
  if type(key) ~= "string" or key == "" then check.typeerror(fname, 2, "key (string)", key, 2) end
  if not SLOTS[slot] then
    check.argerror(fname, 3, "'password1' or 'password2' expected, got "
      .. (type(slot) == "string" and ("'" .. slot .. "'") or check.type_of(slot)), 2)
  end
end

local function copy(e)
  return e and { state = e.state, at = e.at, creation_time = e.creation_time } or nil
end

function Ledger:to_table()
  local out = {}
  for key, slots in pairs(self.entries) do
    out[key] = {}
    for slot, e in pairs(slots) do out[key][slot] = copy(e) end
  end
  return out
end

-- The file's text: sorted keys and an indent, so that it reads (and diffs) well.
local function encode(entries)
  local slots = {}
  for key, s in pairs(entries) do
    if next(s) then slots[key] = s end
  end
  return json.encode({ version = VERSION, slots = slots }, { indent = 2, sort = true }) .. "\n"
end

-- A change is one line appended to PATH.journal and fsync'd, so that its cost does not
-- grow with the ledger (a run rotating 500 tokens makes 1,500 of them); open folds the
-- journal into the file, once.
local function journal_of(path) return path .. ".journal" end

local function save(self, key, slot, e)
  if not self.path then return true end
  local line = json.encode({ k = key, s = slot, e = e }, { sort = true }) .. "\n"
  local ok, err = sys().append_private(journal_of(self.path), line)
  if not ok then return nil, "ledger: " .. err end
  return true
end

-- Sets entry (key, slot) to e (nil: removes it) and saves; on failure puts it back.
local function change(self, key, slot, e)
  local slots = self.entries[key]
  if not slots then
    slots = {}
    self.entries[key] = slots
  end
  local old = slots[slot]
  slots[slot] = e
  local ok, err = save(self, key, slot, e)
  if not ok then slots[slot] = old end
  return ok, err
end

-- syntax: ok, err = l:intend(key, slot, at)
function Ledger:intend(key, slot, at)
  check_call("intend", self, key, slot)
  if type(at) ~= "number" or at ~= at or at < 0 or at == math.huge then
    check.typeerror("intend", 4, "epoch seconds (number)", at)
  end
  return change(self, key, slot, { state = "intended", at = at })
end

local function record(fname, state)
  return function(self, key, slot, creation_time)
    check_call(fname, self, key, slot)
    if type(creation_time) ~= "string" or creation_time == "" then
      check.typeerror(fname, 4, "creation time (RFC 3339 string)", creation_time)
    end
    local old = self.entries[key] and self.entries[key][slot]
    return change(self, key, slot, { state = state, at = old and old.at, creation_time = creation_time })
  end
end

-- syntax: ok, err = l:generated(key, slot, creation_time)
Ledger.generated = record("generated", "generated")
-- syntax: ok, err = l:delivered(key, slot, creation_time)
Ledger.delivered = record("delivered", "delivered")

-- syntax: e = l:get(key, slot)
function Ledger:get(key, slot)
  check_call("get", self, key, slot)
  return copy(self.entries[key] and self.entries[key][slot])
end

-- syntax: ok, err = l:forget(key, slot)
function Ledger:forget(key, slot)
  check_call("forget", self, key, slot)
  if not (self.entries[key] and self.entries[key][slot]) then return true end
  return change(self, key, slot, nil)
end

-- syntax: l:close()   -- idempotent
-- The lock of an opened ledger let go (another run may open it now); the entries stay
-- readable with to_table, every other call raises.
function Ledger:close()
  if getmetatable(self) ~= Ledger then check.typeerror("close", 1, "acr.desired.Ledger", self) end
  if self.lock then self.lock:unlock() end
  self.closed = true
end
Ledger.__close = Ledger.close

-- syntax: l = ledger.memory()
function _M.memory()
  return setmetatable({ entries = {} }, Ledger)
end

-- Whether e is an entry as the ledger writes them (the file's and the journal's).
local function is_entry(e)
  return type(e) == "table" and STATES[e.state] ~= nil and (e.at == nil or type(e.at) == "number")
    and (e.creation_time == nil or type(e.creation_time) == "string")
end

-- What a file holds, checked: entries, or nil, what is wrong.
local function parse(text)
  local t = cjson.decode(text)
  if type(t) ~= "table" then return nil, "not JSON" end
  if t.version ~= VERSION then return nil, "version " .. tostring(t.version) .. " is not " .. VERSION end
  if t.slots ~= nil and type(t.slots) ~= "table" then return nil, "'slots' is not an object" end
  local entries = {}
  for key, slots in pairs(t.slots or {}) do
    if type(key) ~= "string" or type(slots) ~= "table" then return nil, "'slots' holds a non-object" end
    entries[key] = {}
    for slot, e in pairs(slots) do
      if not SLOTS[slot] or not is_entry(e) then
        return nil, "entry " .. tostring(key) .. " " .. tostring(slot) .. " is malformed"
      end
      entries[key][slot] = copy(e)
    end
  end
  return entries
end

-- syntax: h, err, kind = ledger._lock_for_run(lock_path, owner)   context: blocking (never waits)
-- The lock of one run (acr._sys.lock) on what owner names; when another run holds it:
-- nil, "<owner> is in use by another run (…)", "busy"; another failure: nil, err, "error".
function _M._lock_for_run(lock_path, owner)
  local h, err, kind = sys().lock(lock_path)
  if h then return h end
  if kind == "busy" then
    return nil, owner .. " is in use by another run (" .. lock_path
      .. " is locked; try again once it has ended)", kind
  end
  return nil, err, kind
end

-- PATH.lock taken, its directory made first: the lock, or nil, err.
local function lock(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir and dir ~= "" then
    local ok, err = sys().mkdir_private(dir)
    if not ok then return nil, "ledger: " .. err end
  end
  local h, err, kind = _M._lock_for_run(path .. ".lock", "ledger " .. path)
  if h then return h end
  return nil, kind == "busy" and err or "ledger: " .. err
end

-- The text of the file at path; false when it is not there; or nil, err.
local function read_text(path)
  local f, err, code = io.open(path, "rb")
  if not f then
    if code == 2 then return false end   -- ENOENT
    return nil, "ledger: " .. tostring(err)
  end
  local text = f:read("*a") or ""
  f:close()
  return text
end

-- The entries of the file at path (none when it is not there), or nil, err.
local function read(path)
  local text, err = read_text(path)
  if not text then
    if text == false then return {} end
    return nil, err
  end
  local entries, perr = parse(text)
  if not entries then return nil, "ledger " .. path .. ": " .. perr end
  return entries
end

-- The journal's changes applied to entries: true, or nil, err. A last line without its
-- newline is an append a crash cut short (its change was never reported made): dropped.
local function replay(path, entries)
  local text, err = read_text(journal_of(path))
  if text == false then return true, false end   -- no change since the last fold
  if not text then return nil, err end
  -- anything in it is folded in, a cut-short line too: the next append must not land
  -- on its remains
  local any = text ~= ""
  for line in text:gmatch("([^\n]*)\n") do
    local t = cjson.decode(line)
    local e = type(t) == "table" and t.e
    if type(t) ~= "table" or type(t.k) ~= "string" or not SLOTS[t.s] or (e ~= nil and not is_entry(e)) then
      return nil, "ledger " .. journal_of(path) .. ": a line is malformed"
    end
    entries[t.k] = entries[t.k] or {}
    entries[t.k][t.s] = copy(e)
  end
  return true, any
end

-- The journal folded into the file: the file written whole (atomically), then the
-- journal removed. A crash between the two replays the journal again on the new file,
-- which changes nothing (each line sets an entry as a whole).
local function compact(path, entries)
  local ok, err = sys().write_private(path, encode(entries))
  if ok then ok, err = sys().remove(journal_of(path)) end
  if not ok then return nil, "ledger: " .. err end
  return true
end

-- syntax: l, err = ledger.open(path)   context: blocking (it never waits for the lock)
-- A file that is not there is an empty ledger; one that cannot be read or is not a
-- ledger is an error (it is never overwritten: a run must not forget a half-done
-- rotation); so is a ledger another run holds open.
function _M.open(path)
  if type(path) ~= "string" or path == "" or path:find("%z") then
    check.typeerror("acr.desired.ledger.open", 1, "path (non-empty string)", path)
  end
  local h, err = lock(path)
  if not h then return nil, err end
  local entries
  entries, err = read(path)
  if not entries then
    h:unlock()
    return nil, err
  end
  local replayed, any = replay(path, entries)
  if replayed and any then
    replayed, err = compact(path, entries)
  elseif not replayed then
    err = any
  end
  if not replayed then
    h:unlock()
    return nil, err
  end
  return setmetatable({ entries = entries, path = path, lock = h }, Ledger)
end

return _M
