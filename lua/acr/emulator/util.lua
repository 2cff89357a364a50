-- Small helpers shared by the emulator's modules (OpenResty only).

local b64 = require "ngx.base64"
local crypto = require "acr.emulator.crypto"
local json = require "acr.emulator.json"

local _M = { _VERSION = "0.1.0" }

-- syntax: id = util.uuid()   (random, version 4)
function _M.uuid()
  local b = { crypto.random_bytes(16):byte(1, 16) }
  b[7] = b[7] % 16 + 0x40
  b[9] = b[9] % 64 + 0x80
  local h = {}
  for i = 1, 16 do h[i] = string.format("%02x", b[i]) end
  local s = table.concat(h)
  return s:sub(1, 8) .. "-" .. s:sub(9, 12) .. "-" .. s:sub(13, 16) .. "-"
    .. s:sub(17, 20) .. "-" .. s:sub(21, 32)
end

-- syntax: s = util.iso_time(t?)  e.g. 2023-02-15T08:42:08.0645445+00:00 (ARM's form)
function _M.iso_time(t)
  -- ngx.now() has millisecond resolution; work in whole milliseconds so float
  -- noise does not show up in the seventh digit.
  local ms = math.floor((t or ngx.now()) * 1000 + 0.5)
  local sec = math.floor(ms / 1000)
  return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. string.format(".%07d", (ms % 1000) * 10000) .. "+00:00"
end

-- syntax: s = util.routing_time()  e.g. 20230215T084200Z
function _M.routing_time()
  return os.date("!%Y%m%dT%H%M%SZ", math.floor(ngx.now()))
end

-- syntax: s = util.b64url(raw) / raw = util.unb64url(s)
function _M.b64url(s)
  return b64.encode_base64url(s)
end

function _M.unb64url(s)
  if type(s) ~= "string" or s:find("[^%w%-_]") then return nil end
  return b64.decode_base64url(s)
end

-- syntax: s = util.password()  a generated token password (52 chars, like ACR's)
function _M.password()
  return ngx.encode_base64(crypto.random_bytes(39))
end

-- syntax: parts = util.split(s, sep_char)
function _M.split(s, sep)
  local parts = {}
  local start = 1
  while true do
    local i = s:find(sep, start, true)
    if not i then
      parts[#parts + 1] = s:sub(start)
      return parts
    end
    parts[#parts + 1] = s:sub(start, i - 1)
    start = i + 1
  end
end

-- syntax: util.send(status, body?, headers?)
-- body is a string or a table (sent as JSON); a JSON body gets ARM's Content-Type and
-- every response an exact Content-Length (ARM never answers chunked here).
function _M.send(status, body, headers)
  if type(body) == "table" then body = json.encode(body) end
  body = body or ""
  ngx.status = status
  if headers then
    for k, v in pairs(headers) do ngx.header[k] = v end
  end
  if body ~= "" and ngx.header["Content-Type"] == nil then
    ngx.header["Content-Type"] = "application/json; charset=utf-8"
  end
  ngx.header["Content-Length"] = #body
  if body ~= "" then ngx.print(body) end
end

-- syntax: url = util.base_url()   scheme://host[:port] as the client addressed us
function _M.base_url()
  return ngx.var.scheme .. "://" .. (ngx.var.http_host or (ngx.var.server_addr .. ":" .. ngx.var.server_port))
end

-- syntax: v = util.single(header_value)   first value of a repeated header
function _M.single(v)
  if type(v) == "table" then return v[1] end
  return v
end

-- Park-Miller minimal standard generator: deterministic for a seed on every
-- Lua, and exact in doubles (16807 * 2^31 < 2^53).
local Prng = {}
Prng.__index = Prng

function _M.prng(seed)
  local s = math.floor(tonumber(seed) or 1) % 2147483647
  if s <= 0 then s = s + 2147483646 end
  return setmetatable({ state = s }, Prng)
end

-- syntax: x = prng:next()  in [0, 1)
function Prng:next()
  self.state = (self.state * 16807) % 2147483647
  return (self.state - 1) / 2147483646
end

return _M
