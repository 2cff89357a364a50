-- acr.resty.http: the minimal HTTP/1.1 client under acr.resty, over ngx.socket.tcp.
--
-- Only what an acr.Operation needs: one request, one response, keep-alive per
-- scheme/host/port, TLS with verification on, Content-Length, chunked and
-- read-until-close bodies, a cap on the response size, and failures named as
-- op:feed() takes them. It never logs headers or bodies (they carry bearer tokens,
-- client secrets and generated passwords).

local ngx = ngx
local tcp = ngx.socket.tcp
local now, update_time = ngx.now, ngx.update_time
local concat, tonumber, tostring = table.concat, tonumber, tostring
local type, pairs = type, pairs
local find, lower, match, byte, sub = string.find, string.lower, string.match, string.byte, string.sub
local max, min = math.max, math.min

local _M = { _VERSION = "0.1.0" }

_M.DEFAULTS = {
  timeout = 60,             -- s: one whole exchange (connect to last byte), as libcurl's
  connect_timeout = 10,     -- s
  max_body = 64 * 1024 * 1024,
  max_header_bytes = 64 * 1024,
  max_headers = 1000,
  keepalive_timeout = 60,   -- s an idle connection stays in the pool
  pool_size = 32,           -- idle connections kept per pool (scheme/host/port)
}

-- Counters of this worker (a module table is per worker in nginx).
local stats = {
  requests = 0,        -- exchanges attempted
  connections = 0,     -- TCP connections opened (not taken from the pool)
  reused = 0,          -- exchanges on a pooled connection
  handshakes = 0,      -- TLS handshakes made
  kept_alive = 0,      -- connections put back in the pool
  errors = 0,          -- exchanges that ended in a transport failure
  refused_reuse = 0,   -- pooled connections not used: not filed there by this module
}
_M.stats = stats

-- The failure classes of op:feed(): Timeout and ConnectionFailed are retried by
-- the operation; TlsError, ResponseTooLarge and TransportError are not.
local function sock_code(err)
  if err == "timeout" then return "Timeout" end
  return "ConnectionFailed"
end

-- syntax: parts = http.parse_url(url)  -- {scheme=, host=, port=, path=, authority=} or nil, err
function _M.parse_url(url)
  if type(url) ~= "string" then return nil, "URL expected" end
  -- nothing that could end the request line or a header, or split a host name
  if find(url, "[%s%c]") then return nil, "spaces or control characters in the URL" end
  local scheme, rest = match(url, "^(%a[%w+.-]*)://(.*)$")
  if not scheme then return nil, "not an absolute URL" end
  scheme = lower(scheme)
  if scheme ~= "http" and scheme ~= "https" then return nil, "unsupported scheme " .. scheme end
  local authority, path = match(rest, "^([^/?#]*)(.*)$")
  path = path:gsub("#.*$", "")
  if path == "" then path = "/" elseif byte(path, 1) == 63 then path = "/" .. path end -- "?"
  if find(authority, "@", 1, true) then return nil, "user information in a URL is not supported" end
  local host, port
  if byte(authority, 1) == 91 then                      -- "[v6]:port"
    host, port = match(authority, "^%[([%x:.]+)%]:?(%d*)$")
  else
    host, port = match(authority, "^([^:]+):?(%d*)$")
  end
  if not host or host == "" then return nil, "no host in the URL" end
  port = tonumber(port) or (scheme == "https" and 443 or 80)
  if port < 1 or port > 65535 then return nil, "bad port in the URL" end
  return { scheme = scheme, host = lower(host), port = port, path = path, authority = authority }
end

local function fail(sock, code, msg)
  stats.errors = stats.errors + 1
  if sock then sock:close() end
  return nil, code, msg
end

-- Remaining time of the exchange, in ms for settimeout.
local function remaining(deadline)
  update_time()
  return (deadline - now()) * 1000
end

---------------------------------------------------------------------------
-- reading: every read is one receiveany() given the time left to the exchange's
-- deadline. nginx restarts a read's timer whenever bytes arrive, so one receive(n)
-- or receive("*l") fed a byte at a time could outlive any deadline; receiveany
-- returns as soon as anything arrives and the deadline is checked before the next.
-- Lines are cut off at a caller's cap before their end is seen.
---------------------------------------------------------------------------

local READ_SIZE = 16384

-- rd = {sock=, deadline=, buf= (bytes received, not consumed, from pos), pos=, got=}
local function new_reader(sock, deadline)
  return { sock = sock, deadline = deadline, buf = "", pos = 1, got = 0 }
end

-- Receives at most n more bytes into rd.buf (whose unread part must be empty).
local function fill(rd, n)
  local ms = remaining(rd.deadline)
  if ms <= 0 then return nil, "timeout" end
  rd.sock:settimeout(max(1, ms))
  local data, err = rd.sock:receiveany(n)
  if not data then return nil, err end
  rd.buf, rd.pos, rd.got = data, 1, rd.got + #data
  return true
end

-- One line (CR LF or LF stripped) of at most `limit` bytes before its end.
-- Failure: nil, err ("timeout", "closed", …, or "too long").
local function read_line(rd, limit)
  local parts, n = nil, 0
  while true do
    local buf, pos = rd.buf, rd.pos
    local nl = find(buf, "\n", pos, true)
    local stop = nl and nl - 1 or #buf
    n = n + stop - pos + 1
    if n > limit + 1 then return nil, "too long" end   -- (+1: the CR)
    if nl then
      rd.pos = nl + 1
      local line = sub(buf, pos, stop)
      if parts then parts[#parts + 1] = line line = concat(parts) end
      if byte(line, -1) == 13 then line = sub(line, 1, -2) end
      if #line > limit then return nil, "too long" end
      return line
    end
    if stop >= pos then
      parts = parts or {}
      parts[#parts + 1] = sub(buf, pos, stop)
    end
    rd.buf, rd.pos = "", 1
    local ok, err = fill(rd, READ_SIZE)
    if not ok then return nil, err end
  end
end

-- Exactly n bytes. Failure: nil, err, bytes_received.
local function read_n(rd, n)
  local buf, pos = rd.buf, rd.pos
  local have = #buf - pos + 1
  if have >= n then
    rd.pos = pos + n
    return sub(buf, pos, pos + n - 1)
  end
  local parts, got = { sub(buf, pos) }, have
  rd.buf, rd.pos = "", 1
  while got < n do
    -- never more than this body needs: nothing of a next answer is read
    local ok, err = fill(rd, min(n - got, 65536))
    if not ok then return nil, err, got end
    parts[#parts + 1] = rd.buf
    got = got + #rd.buf
    rd.buf = ""
  end
  return concat(parts)
end

local function leftover(rd)
  return rd.pos <= #rd.buf
end

-- The header block up to its empty line, within max_headers lines and max_header_bytes.
local function read_headers(rd, o, what)
  local headers, count, bytes = {}, 0, 0
  local too_large = function()
    return nil, "ResponseTooLarge", what .. " over " .. o.max_headers .. " lines or "
      .. o.max_header_bytes .. " bytes"
  end
  while true do
    local line, err = read_line(rd, o.max_header_bytes - bytes)
    if not line then
      if err == "too long" then return too_large() end
      return nil, sock_code(err), "reading the " .. what .. ": " .. err
    end
    if line == "" then return headers end
    bytes = bytes + #line + 2
    count = count + 1
    if count > o.max_headers or bytes > o.max_header_bytes then return too_large() end
    local name, value = match(line, "^([^:%s]+):[ \t]*(.-)[ \t]*$")
    if not name then
      return nil, "TransportError", "malformed " .. what .. " line"
    end
    name = lower(name)
    local old = headers[name]
    headers[name] = old and (old .. ", " .. value) or value
  end
end

local MAX_CHUNK_LINE = 4096   -- a size and its extensions

local function read_chunked(rd, o)
  local parts, total = {}, 0
  while true do
    local line, err = read_line(rd, MAX_CHUNK_LINE)
    if not line then
      if err == "too long" then return nil, "TransportError", "malformed chunk size line" end
      return nil, sock_code(err), "reading a chunk size: " .. err
    end
    -- size [ws] [; extensions]: anything else is not chunked framing
    local hex, rest = match(line, "^(%x+)[ \t]*(.*)$")
    if hex then hex = hex:gsub("^0+(%x)", "%1") end
    if not hex or #hex > 15 or (rest ~= "" and byte(rest, 1) ~= 59) then   -- ";"
      return nil, "TransportError", "malformed chunk size line"
    end
    local size = tonumber(hex, 16)
    if size == 0 then
      -- the trailer, up to the empty line, under the header caps
      local trailer, tcode, tmsg = read_headers(rd, o, "chunked trailer")
      if not trailer then return nil, tcode, tmsg end
      return concat(parts)
    end
    total = total + size
    if total > o.max_body then
      return nil, "ResponseTooLarge", "response body over " .. o.max_body .. " bytes"
    end
    local data, rerr = read_n(rd, size)
    if not data then return nil, sock_code(rerr), "the chunked body was cut short: " .. rerr end
    parts[#parts + 1] = data
    local crlf
    crlf, rerr = read_n(rd, 2)
    if not crlf then return nil, sock_code(rerr), "the chunked body was cut short: " .. rerr end
    if crlf ~= "\r\n" then return nil, "TransportError", "a chunk is longer than its size line says" end
  end
end

local function read_until_close(rd, o)
  local parts, total = {}, 0
  if leftover(rd) then
    parts[1] = sub(rd.buf, rd.pos)
    total = #parts[1]
  end
  rd.buf, rd.pos = "", 1
  while true do
    if total > o.max_body then
      return nil, "ResponseTooLarge", "response body over " .. o.max_body .. " bytes"
    end
    local ok, err = fill(rd, 65536)
    if not ok then
      if err == "closed" then return concat(parts) end
      return nil, sock_code(err), "reading the body: " .. err
    end
    parts[#parts + 1] = rd.buf
    total = total + #rd.buf
    rd.buf = ""
  end
end

local MAX_INTERIM = 10   -- 1xx answers before the real one

-- Reads one response; returns status, headers, body, reusable, or nil, code, msg,
-- nothing_received.
local function read_response(rd, o, method)
  local interim = 0
  while true do
    local line, err = read_line(rd, o.max_header_bytes)
    if not line then
      if err == "too long" then
        return nil, "ResponseTooLarge", "status line over " .. o.max_header_bytes .. " bytes"
      end
      -- nothing at all came back on this connection: the caller may try another
      local nothing = err ~= "timeout" and rd.got == 0
      return nil, sock_code(err), "reading the status line: " .. err, nothing
    end
    -- three digits, then a space (and a reason) or the end: "2000" is no status
    local minor, status = match(line, "^HTTP/1%.([01]) (%d%d%d)$")
    if not status then minor, status = match(line, "^HTTP/1%.([01]) (%d%d%d) ") end
    if not status then return nil, "TransportError", "malformed status line" end
    status = tonumber(status)
    local headers, code, msg = read_headers(rd, o, "response headers")
    if not headers then return nil, code, msg end
    if status >= 200 or status == 101 then
      local conn = lower(headers["connection"] or "")
      local keep = minor == "1" and not find(conn, "close", 1, true)
                   or minor == "0" and find(conn, "keep-alive", 1, true) ~= nil
      if method == "HEAD" or status == 204 or status == 304 or status == 101 then
        return status, headers, "", keep and status ~= 101
      end
      local te = headers["transfer-encoding"]
      if te then
        -- we ask for no encoding: chunked framing is all an answer may use
        if lower(te) ~= "chunked" then
          return nil, "TransportError", "unsupported Transfer-Encoding"
        end
        local body, ccode, cmsg = read_chunked(rd, o)
        if not body then return nil, ccode, cmsg end
        -- both framings at once: this answer was read by one, a proxy on the way may
        -- have read it by the other; the connection is not used again
        if headers["content-length"] then keep = false end
        return status, headers, body, keep
      end
      local cl = headers["content-length"]
      if cl then
        -- repeated identical values ("10, 10") are one length; anything else is garbage
        local first = match(cl, "^(%d+)")
        for v in cl:gmatch("[^,]+") do
          if match(v, "^%s*(%d+)%s*$") ~= first then first = nil break end
        end
        local n = first and #first < 16 and tonumber(first)
        if not n then return nil, "TransportError", "malformed Content-Length" end
        if n > o.max_body then
          return nil, "ResponseTooLarge", "response body of " .. n .. " bytes, over " .. o.max_body
        end
        if n == 0 then return status, headers, "", keep end
        local body, rerr, got = read_n(rd, n)
        if not body then
          return nil, sock_code(rerr), ("the body was cut short: %s after %d of %d bytes"):format(rerr, got, n)
        end
        return status, headers, body, keep
      end
      local body, bcode, bmsg = read_until_close(rd, o)
      if not body then return nil, bcode, bmsg end
      return status, headers, body, false
    end
    -- 1xx interim answer: the real one follows
    interim = interim + 1
    if interim > MAX_INTERIM then
      return nil, "TransportError", "more than " .. MAX_INTERIM .. " interim (1xx) answers"
    end
  end
end

local HOP = { host = true, ["content-length"] = true, connection = true,
              ["transfer-encoding"] = true, ["keep-alive"] = true, te = true, upgrade = true }

local function build_request(req, u)
  local method = req.method or "GET"
  if type(method) ~= "string" or not find(method, "^%u+$") or #method > 20 then
    return nil, "a method is upper-case letters"
  end
  local body = req.body
  local lines = { method, " ", u.path, " HTTP/1.1\r\nHost: ", u.authority, "\r\n" }
  local n = #lines
  for name, value in pairs(req.headers or {}) do
    name, value = tostring(name), tostring(value)
    -- a name is an RFC 9110 token; a value holds no control character but HTAB
    if not find(name, "^[%w!#$%%&'*+.^_`|~-]+$") or find(value, "[%z\1-\8\10-\31\127]") then
      return nil, "header names must be tokens, values one line without control characters"
    end
    if not HOP[lower(name)] then
      lines[n + 1], lines[n + 2], lines[n + 3], lines[n + 4] = name, ": ", value, "\r\n"
      n = n + 4
    end
  end
  if body or method == "POST" or method == "PUT" or method == "PATCH" then
    lines[n + 1] = "Content-Length: " .. (body and #body or 0) .. "\r\n"
    n = n + 1
  end
  lines[n + 1] = "\r\n"
  if body then lines[n + 2] = body end
  return concat(lines)
end

-- What this module put in each keep-alive pool, by the reuse count the connection
-- will show when next taken: a connection the pool hands back is used only when it
-- is one of ours for the same scheme, host, port (and address). The pool's name
-- already says that; this guards against anything else filing a connection under
-- it. Connections the pool drops (idle timeout) leave counts behind: capped.
local pooled = {}
local pooled_n = {}

local function pool_put(key, reused_times)
  local t = pooled[key]
  if not t then t = {} pooled[key], pooled_n[key] = t, 0 end
  local nxt = reused_times + 1
  if not t[nxt] then
    pooled_n[key] = pooled_n[key] + 1
    if pooled_n[key] > 256 then   -- forget stale counts; ours are then refused once
      t = {} pooled[key], pooled_n[key] = t, 1
    end
  end
  t[nxt] = (t[nxt] or 0) + 1
end

local function pool_take(key, reused_times)
  local t = pooled[key]
  local c = t and t[reused_times]
  if not c then return false end
  if c > 1 then t[reused_times] = c - 1 else t[reused_times] = nil pooled_n[key] = pooled_n[key] - 1 end
  return true
end

-- syntax: key = http.pool_key(u, opts) -- the keep-alive pool of a parsed URL
local function pool_key(u, o)
  local key = (o.pool or "acr") .. ":" .. u.scheme .. "://" .. u.host .. ":" .. u.port
  local addr = o.hosts and o.hosts[u.host]
  if addr and addr ~= u.host then key = key .. "@" .. addr end
  return key, addr or u.host
end
_M.pool_key = pool_key

-- Opens (or takes from the pool) a connection and does the TLS handshake.
local function connect(u, o, deadline, key, addr)
  local ms, sock
  for _ = 1, 4 do
    sock = tcp()
    ms = remaining(deadline)
    if ms <= 0 then return nil, "Timeout", "connecting: timeout" end
    local cms = min(ms, o.connect_timeout * 1000)
    sock:settimeouts(max(1, cms), max(1, ms), max(1, ms))
    local ok, err = sock:connect(addr, u.port, { pool = key, pool_size = o.pool_size })
    if not ok then
      return fail(sock, sock_code(err), ("connecting to %s:%d: %s"):format(u.host, u.port, err))
    end
    local reused = sock:getreusedtimes() or 0
    if reused == 0 then break end
    if pool_take(key, reused) then
      stats.reused = stats.reused + 1
      return sock, reused
    end
    -- not a connection this module pooled for this origin: never send on it
    stats.refused_reuse = stats.refused_reuse + 1
    sock:close()
    sock = nil
  end
  if not sock then return fail(nil, "ConnectionFailed", "no fresh connection from the pool") end
  stats.connections = stats.connections + 1
  if u.scheme == "https" then
    ms = remaining(deadline)
    if ms <= 0 then return fail(sock, "Timeout", "TLS handshake: timeout") end
    sock:settimeout(max(1, ms))
    -- SNI and the name checked = the URL's host; verification on. A session is asked
    -- for (nil, not false) on purpose: when the handshake completes at once but fails
    -- verification, lua-nginx-module 0.10.23 closes the socket yet answers "OK", and
    -- lua-resty-core 0.1.25 returns true for `false` without asking what happened, so
    -- the failure would surface later as a dropped connection (and be retried) instead
    -- of a TLS error. With nil it asks, and its assert() raises instead: that raise is a
    -- failed verification, and is caught as one.
    local called, sess, herr = pcall(sock.sslhandshake, sock, nil, u.host, true)
    if not called then
      return fail(sock, "TlsError", ("TLS handshake with %s:%d: certificate verification failed")
        :format(u.host, u.port))
    end
    if not sess and herr then
      if herr == "timeout" then return fail(sock, "Timeout", "TLS handshake: timeout") end
      return fail(sock, "TlsError", ("TLS handshake with %s:%d: %s"):format(u.host, u.port, herr))
    end
    stats.handshakes = stats.handshakes + 1
  end
  return sock, 0
end

local function options(opts)
  local o = {}
  for k, v in pairs(_M.DEFAULTS) do o[k] = v end
  if opts then for k, v in pairs(opts) do o[k] = v end end
  return o
end
_M.options = options

-- syntax: res, code, message = http.request(req, opts?)
--   req:  {method=, url=, headers=, body=?, timeout=?}
--   opts: timeout, connect_timeout, max_body, max_headers, max_header_bytes,
--         keepalive_timeout, pool_size, pool (a prefix of the pool's name, which always
--         holds scheme://host:port), hosts ({name = address} instead of DNS)
-- res: {status=, headers= (lower-case names), body= (string, "" when none), reused= (n)}
-- On failure: nil and one of Timeout, ConnectionFailed, TlsError, ResponseTooLarge,
-- TransportError, with a message that holds no header or body.
function _M.request(req, opts)
  local o = (opts and opts._merged) and opts or options(opts)
  local u, uerr = _M.parse_url(req.url)
  if not u then return nil, "TransportError", "bad URL: " .. uerr end
  local payload, berr = build_request(req, u)
  if not payload then return nil, "TransportError", berr end
  local key, addr = pool_key(u, o)
  update_time()
  local deadline = now() + (tonumber(req.timeout) or o.timeout)
  stats.requests = stats.requests + 1
  -- A pooled connection the server closed meanwhile fails on first use with nothing
  -- received: that is no answer, so try again on another (at most a few times).
  for _ = 1, 4 do
    local sock, reused, cmsg = connect(u, o, deadline, key, addr)
    if not sock then return nil, reused, cmsg end
    local ms = remaining(deadline)
    if ms <= 0 then return fail(sock, "Timeout", "sending: timeout") end
    sock:settimeout(max(1, ms))
    local sent, serr = sock:send(payload)
    local status, headers, body, keep, stale
    local rd = new_reader(sock, deadline)
    if not sent then
      status, headers, body, stale = nil, sock_code(serr), "sending the request: " .. serr, true
    else
      status, headers, body, keep = read_response(rd, o, req.method or "GET")
      stale = not status and keep   -- read_response flags "nothing received"
    end
    if status then
      -- bytes past the answer: the connection is out of step; do not pool it
      if keep and not leftover(rd) then
        local ok = sock:setkeepalive(o.keepalive_timeout * 1000, o.pool_size)
        if ok then
          stats.kept_alive = stats.kept_alive + 1
          pool_put(key, reused)
        end
      else
        sock:close()
      end
      return { status = status, headers = headers, body = body, reused = reused }
    end
    if not (stale and reused > 0 and headers ~= "Timeout") then
      return fail(sock, headers, body)
    end
    sock:close()
  end
  return fail(nil, "ConnectionFailed", "every pooled connection was closed by the server")
end

return _M
