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
local find, lower, match, byte = string.find, string.lower, string.match, string.byte
local max = math.max

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
  if find(path, "[%s%c]") then return nil, "spaces or control characters in the URL" end
  return { scheme = scheme, host = lower(host), port = port, path = path, authority = authority }
end

local function fail(sock, code, msg)
  stats.errors = stats.errors + 1
  if sock then sock:close() end
  return nil, code, msg
end

-- Remaining time of the exchange, in ms for settimeout (at least 1).
local function remaining(deadline)
  update_time()
  return (deadline - now()) * 1000
end

local function set_read_timeout(sock, deadline)
  local ms = remaining(deadline)
  if ms <= 0 then return false end
  sock:settimeout(max(1, ms))
  return true
end

local function read_line(sock, deadline)
  if not set_read_timeout(sock, deadline) then return nil, "timeout" end
  return sock:receive("*l")
end

-- Reads n bytes. On failure: nil, err, bytes_received.
local function read_n(sock, n, deadline)
  if not set_read_timeout(sock, deadline) then return nil, "timeout", 0 end
  local data, err, partial = sock:receive(n)
  if not data then return nil, err, partial and #partial or 0 end
  return data
end

local function read_headers(sock, deadline, o)
  local headers, count, bytes = {}, 0, 0
  while true do
    local line, err = read_line(sock, deadline)
    if not line then return nil, sock_code(err), "reading the response headers: " .. err end
    if line == "" then return headers end
    bytes = bytes + #line + 2
    count = count + 1
    if count > o.max_headers or bytes > o.max_header_bytes then
      return nil, "ResponseTooLarge", "response headers over " .. o.max_headers .. " lines or "
        .. o.max_header_bytes .. " bytes"
    end
    local name, value = match(line, "^([^:%s]+):[ \t]*(.-)[ \t]*$")
    if not name then
      return nil, "TransportError", "malformed response header line"
    end
    name = lower(name)
    local old = headers[name]
    headers[name] = old and (old .. ", " .. value) or value
  end
end

local function read_chunked(sock, deadline, o)
  local parts, total = {}, 0
  while true do
    local line, err = read_line(sock, deadline)
    if not line then return nil, sock_code(err), "reading a chunk size: " .. err end
    local hex = match(line, "^%s*(%x+)%s*;?")
    if not hex or #hex > 15 then return nil, "TransportError", "malformed chunk size line" end
    local size = tonumber(hex, 16)
    if size == 0 then
      -- trailers, up to the empty line
      repeat
        line, err = read_line(sock, deadline)
        if not line then return nil, sock_code(err), "reading the chunked trailer: " .. err end
      until line == ""
      return concat(parts)
    end
    total = total + size
    if total > o.max_body then
      return nil, "ResponseTooLarge", "response body over " .. o.max_body .. " bytes"
    end
    local data, rerr = read_n(sock, size, deadline)
    if not data then return nil, sock_code(rerr), "the chunked body was cut short: " .. rerr end
    parts[#parts + 1] = data
    local crlf
    crlf, rerr = read_n(sock, 2, deadline)
    if not crlf then return nil, sock_code(rerr), "the chunked body was cut short: " .. rerr end
    if crlf ~= "\r\n" then return nil, "TransportError", "a chunk is longer than its size line says" end
  end
end

local function read_until_close(sock, deadline, o)
  local parts, total = {}, 0
  while true do
    if not set_read_timeout(sock, deadline) then return nil, "Timeout", "reading the body: timeout" end
    local data, err = sock:receiveany(65536)
    if not data then
      if err == "closed" then return concat(parts) end
      return nil, sock_code(err), "reading the body: " .. err
    end
    total = total + #data
    if total > o.max_body then
      return nil, "ResponseTooLarge", "response body over " .. o.max_body .. " bytes"
    end
    parts[#parts + 1] = data
  end
end

-- Reads one response; returns status, headers, body, reusable, or nil, code, msg.
local function read_response(sock, deadline, o, method)
  local line, err, status, minor
  repeat
    local partial
    line, err, partial = read_line(sock, deadline)
    if not line then
      -- nothing at all came back on this connection: the caller may try another
      local nothing = not status and err ~= "timeout" and (partial or "") == ""
      return nil, sock_code(err), "reading the status line: " .. err, nothing
    end
    minor, status = match(line, "^HTTP/1%.([01]) (%d%d%d)")
    if not status then return nil, "TransportError", "malformed status line" end
    status = tonumber(status)
    local headers, code, msg = read_headers(sock, deadline, o)
    if not headers then return nil, code, msg end
    if status >= 200 or status == 101 then
      local conn = lower(headers["connection"] or "")
      local keep = minor == "1" and not find(conn, "close", 1, true)
                   or minor == "0" and find(conn, "keep-alive", 1, true) ~= nil
      if method == "HEAD" or status == 204 or status == 304 or status == 101 then
        return status, headers, "", keep and status ~= 101
      end
      local te = headers["transfer-encoding"]
      if te and lower(te) ~= "identity" then
        if not find(lower(te), "chunked%s*$") then
          return nil, "TransportError", "unsupported Transfer-Encoding"
        end
        local body, ccode, cmsg = read_chunked(sock, deadline, o)
        if not body then return nil, ccode, cmsg end
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
        local body, rerr, got = read_n(sock, n, deadline)
        if not body then
          return nil, sock_code(rerr), ("the body was cut short: %s after %d of %d bytes"):format(rerr, got, n)
        end
        return status, headers, body, keep
      end
      local body, bcode, bmsg = read_until_close(sock, deadline, o)
      if not body then return nil, bcode, bmsg end
      return status, headers, body, false
    end
    -- 1xx interim answer: the real one follows
  until false
end

local HOP = { host = true, ["content-length"] = true, connection = true,
              ["transfer-encoding"] = true, ["keep-alive"] = true, te = true, upgrade = true }

local function build_request(req, u)
  local method = req.method or "GET"
  local body = req.body
  local lines = { method, " ", u.path, " HTTP/1.1\r\nHost: ", u.authority, "\r\n" }
  local n = #lines
  for name, value in pairs(req.headers or {}) do
    name, value = tostring(name), tostring(value)
    if find(name, "[%c%s:]") or find(value, "[\r\n]") then
      return nil, "header names and values must be one line"
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

-- Opens (or takes from the pool) a connection and does the TLS handshake.
local function connect(u, o, deadline)
  local sock = tcp()
  local ms = remaining(deadline)
  if ms <= 0 then return nil, "Timeout", "connecting: timeout" end
  local cms = math.min(ms, o.connect_timeout * 1000)
  sock:settimeouts(max(1, cms), max(1, ms), max(1, ms))
  local addr = o.hosts and o.hosts[u.host] or u.host
  local pool = o.pool or ("acr:" .. u.scheme .. "://" .. u.host .. ":" .. u.port)
  local ok, err = sock:connect(addr, u.port, { pool = pool, pool_size = o.pool_size })
  if not ok then
    return fail(sock, sock_code(err), ("connecting to %s:%d: %s"):format(u.host, u.port, err))
  end
  local reused = sock:getreusedtimes() or 0
  if reused == 0 then
    stats.connections = stats.connections + 1
    if u.scheme == "https" then
      ms = remaining(deadline)
      if ms <= 0 then return fail(sock, "Timeout", "TLS handshake: timeout") end
      sock:settimeout(max(1, ms))
      -- SNI and the name checked = the URL's host; verification on. No session object is
      -- asked for (false): Debian's lua-resty-core 0.1.25 asserts instead of returning
      -- the error when it must hand one back after a failed verification.
      local sess, herr = sock:sslhandshake(false, u.host, true)
      if not sess then
        if herr == "timeout" then return fail(sock, "Timeout", "TLS handshake: timeout") end
        return fail(sock, "TlsError", ("TLS handshake with %s:%d: %s"):format(u.host, u.port, herr))
      end
      stats.handshakes = stats.handshakes + 1
    end
  else
    stats.reused = stats.reused + 1
  end
  return sock, reused
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
--         keepalive_timeout, pool_size, pool, hosts ({name = address} instead of DNS)
-- res: {status=, headers= (lower-case names), body= (string, "" when none), reused= (n)}
-- On failure: nil and one of Timeout, ConnectionFailed, TlsError, ResponseTooLarge,
-- TransportError, with a message that holds no header or body.
function _M.request(req, opts)
  local o = (opts and opts._merged) and opts or options(opts)
  local u, uerr = _M.parse_url(req.url)
  if not u then return nil, "TransportError", "bad URL: " .. uerr end
  local payload, berr = build_request(req, u)
  if not payload then return nil, "TransportError", berr end
  update_time()
  local deadline = now() + (tonumber(req.timeout) or o.timeout)
  stats.requests = stats.requests + 1
  -- A pooled connection the server closed meanwhile fails on first use with nothing
  -- received: that is no answer, so try again on another (at most a few times).
  for _ = 1, 4 do
    local sock, reused, cmsg = connect(u, o, deadline)
    if not sock then return nil, reused, cmsg end
    if not set_read_timeout(sock, deadline) then return fail(sock, "Timeout", "sending: timeout") end
    local sent, serr = sock:send(payload)
    local status, headers, body, keep, stale
    if not sent then
      status, headers, body, stale = nil, sock_code(serr), "sending the request: " .. serr, true
    else
      status, headers, body, keep = read_response(sock, deadline, o, req.method or "GET")
      stale = not status and keep   -- read_response flags "nothing received"
    end
    if status then
      if keep then
        local ok = sock:setkeepalive(o.keepalive_timeout * 1000, o.pool_size)
        if ok then stats.kept_alive = stats.kept_alive + 1 end
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
