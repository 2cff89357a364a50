-- Identity side of the emulator: the bearer tokens it issues (HS256 JWTs signed
-- with a secret made at start), the Entra ID token endpoint (client secret and
-- RS256 client assertions), and the two managed-identity endpoints (IMDS and
-- App Service).

local state = require "acr.emulator.state"
local json = require "acr.emulator.json"
local util = require "acr.emulator.util"
local crypto = require "acr.emulator.crypto"

local _M = { _VERSION = "0.1.0" }

local ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

local function sign(input)
  return util.b64url(crypto.hmac_sha256(state.secret, input))
end

-- syntax: token, exp = auth.issue{ lifetime=, tid=, appid=, oid=, aud= }
function _M.issue(opts)
  local now = ngx.time()
  local lifetime = opts.lifetime or state.settings.token_lifetime
  local tid = opts.tid or state.DEFAULT_TENANT_ID
  local claims = json.object(
    "aud", opts.aud or "https://management.azure.com",
    "iss", "https://sts.windows.net/" .. tid .. "/",
    "iat", now, "nbf", now, "exp", now + lifetime,
    "appid", opts.appid or state.DEFAULT_CLIENT_ID,
    "idtyp", "app",
    "oid", opts.oid or util.uuid(),
    "sub", opts.oid or opts.appid or state.DEFAULT_CLIENT_ID,
    "tid", tid,
    "ver", "1.0")
  local input = util.b64url(json.encode(json.object("alg", "HS256", "typ", "JWT", "kid", "acr-emulator")))
    .. "." .. util.b64url(json.encode(claims))
  local token = input .. "." .. sign(input)
  state.remember_issued(token)
  return token, now + lifetime
end

local function constant_eq(a, b)
  if #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do
    if a:byte(i) ~= b:byte(i) then diff = diff + 1 end
  end
  return diff == 0
end

-- syntax: claims, code, message = auth.verify_bearer(authorization_header)
-- code/message are ARM's 401 error members when the token is refused.
function _M.verify_bearer(header)
  header = util.single(header)
  if not header then
    return nil, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
  end
  local token = header:match("^[Bb][Ee][Aa][Rr][Ee][Rr] +(%S+)%s*$")
  if not token then
    return nil, "AuthenticationFailed",
      "Authentication failed. The 'Authorization' header is provided in an invalid format."
  end
  local invalid = "The access token is invalid."
  local h, p, s = token:match("^([%w%-_]+)%.([%w%-_]+)%.([%w%-_]+)$")
  if not h or not constant_eq(s, sign(h .. "." .. p)) then
    return nil, "InvalidAuthenticationToken", invalid
  end
  local claims = json.decode(util.unb64url(p) or "")
  if type(claims) ~= "table" or type(claims.exp) ~= "number" then
    return nil, "InvalidAuthenticationToken", invalid
  end
  local now = ngx.time()
  if claims.exp <= now then
    return nil, "ExpiredAuthenticationToken", string.format(
      "The access token expiry UTC time '%s' is earlier than current UTC time '%s'.",
      os.date("!%m/%d/%Y %H:%M:%S", claims.exp), os.date("!%m/%d/%Y %H:%M:%S", now))
  end
  return claims
end

---------------------------------------------------------------------------
-- Entra ID: POST /{tenant}/oauth2/v2.0/token
---------------------------------------------------------------------------

local function aad_error(status, err, code, description)
  local trace, corr = util.uuid(), util.uuid()
  local ts = os.date("!%Y-%m-%d %H:%M:%SZ", ngx.time())
  util.send(status, json.object(
    "error", err,
    "error_description", string.format("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s",
      code, description, trace, corr, ts),
    "error_codes", json.array({ code }),
    "timestamp", ts,
    "trace_id", trace,
    "correlation_id", corr,
    "error_uri", "https://login.microsoftonline.com/error?code=" .. code),
    { ["Cache-Control"] = "no-store, no-cache", Pragma = "no-cache" })
end

-- Checks an RS256 client assertion; returns true or false, AADSTS code, description.
local function check_assertion(client_id, client, assertion, tenant)
  local h64, p64, s64 = assertion:match("^([%w%-_]+)%.([%w%-_]+)%.([%w%-_]+)$")
  local header = h64 and json.decode(util.unb64url(h64) or "")
  local claims = p64 and json.decode(util.unb64url(p64) or "")
  if type(header) ~= "table" or type(claims) ~= "table" then
    return false, 50027, "JWT token is invalid or malformed."
  end
  if client.federated and constant_eq(assertion, client.federated) then
    return true
  end
  if header.alg ~= "RS256" then
    return false, 5002738, "Invalid JWT token. Unsupported algorithm '" .. tostring(header.alg) .. "'."
  end
  local cert = type(header.x5t) == "string" and client.certs[header.x5t]
  if not cert then
    return false, 700027, "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '"
      .. tostring(header.x5t) .. "']"
  end
  if not crypto.verify_rs256(cert.pem, h64 .. "." .. p64, util.unb64url(s64) or "") then
    return false, 700027, "Client assertion failed signature validation."
  end
  if claims.iss ~= client_id or claims.sub ~= client_id then
    return false, 700023, "Client assertion audience claim does not match Realm issuer (iss and sub must be the client_id)."
  end
  local expected = util.base_url() .. "/" .. tenant .. "/oauth2/v2.0/token"
  local aud_ok = false
  for _, a in ipairs(type(claims.aud) == "table" and claims.aud or { claims.aud }) do
    if type(a) == "string" and a:gsub("/$", "") == expected then aud_ok = true end
  end
  if not aud_ok then
    return false, 700021, "Client assertion audience claim does not match the token endpoint '" .. expected .. "'."
  end
  local now = ngx.time()
  if type(claims.exp) ~= "number" or claims.exp <= now
    or (type(claims.nbf) == "number" and claims.nbf > now + 300) then
    return false, 700024, "Client assertion is not within its valid time range."
  end
  return true
end

-- syntax: auth.token_endpoint(tenant)   context: content_by_lua
function _M.token_endpoint(tenant)
  if ngx.req.get_method() ~= "POST" then
    return aad_error(405, "invalid_request", 900561,
      "The endpoint only accepts POST requests. Received a " .. ngx.req.get_method() .. " request.")
  end
  ngx.req.read_body()
  local latency = state.settings.token_latency_ms
  if latency > 0 then ngx.sleep(latency / 1000) end   -- Entra takes its time too
  local args, err = ngx.req.get_post_args(100)
  if not args then
    return aad_error(400, "invalid_request", 900144, "Cannot read the request body: " .. tostring(err))
  end
  local function arg(name)
    local v = args[name]
    if type(v) == "table" then v = v[1] end
    if v == true or v == "" then v = nil end
    return v
  end
  local grant = arg("grant_type")
  if not grant then
    return aad_error(400, "invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'.")
  end
  if grant ~= "client_credentials" then
    return aad_error(400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type '" .. grant .. "'.")
  end
  local client_id = arg("client_id")
  if not client_id then
    return aad_error(400, "invalid_request", 900144, "The request body must contain the following parameter: 'client_id'.")
  end
  local scope = arg("scope")
  if not scope then
    return aad_error(400, "invalid_request", 900144, "The request body must contain the following parameter: 'scope'.")
  end
  if not scope:find("/%.default$") then
    return aad_error(400, "invalid_scope", 1002012,
      "The provided value for scope " .. scope .. " is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).")
  end
  local client = state.clients[client_id]
  if not client then
    return aad_error(400, "unauthorized_client", 700016, "Application with identifier '" .. client_id
      .. "' was not found in the directory '" .. tenant .. "'.")
  end
  local secret, assertion = arg("client_secret"), arg("client_assertion")
  if secret then
    if not client.secret or not constant_eq(secret, client.secret) then
      return aad_error(401, "invalid_client", 7000215,
        "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '"
        .. client_id .. "'.")
    end
  elseif assertion then
    if arg("client_assertion_type") ~= ASSERTION_TYPE then
      return aad_error(400, "invalid_request", 50027, "Invalid client_assertion_type; expected '" .. ASSERTION_TYPE .. "'.")
    end
    local ok, code, desc = check_assertion(client_id, client, assertion, tenant)
    if not ok then
      return aad_error(401, "invalid_client", code, desc)
    end
  else
    return aad_error(401, "invalid_client", 7000218,
      "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
  end
  client.oid = client.oid or util.uuid()
  local lifetime = state.settings.token_lifetime
  local token = _M.issue {
    lifetime = lifetime, tid = tenant, appid = client_id, oid = client.oid,
    aud = scope:gsub("/%.default$", ""),
  }
  util.send(200, json.object(
    "token_type", "Bearer", "expires_in", lifetime, "ext_expires_in", lifetime,
    "access_token", token), { ["Cache-Control"] = "no-store, no-cache", Pragma = "no-cache" })
end

---------------------------------------------------------------------------
-- Managed identity
---------------------------------------------------------------------------

local function query(name)
  local v = ngx.req.get_uri_args(50)[name]
  if type(v) == "table" then v = v[1] end
  if v == true or v == "" then return nil end
  return v
end

local function mi_token(resource, client_id)
  local lifetime = state.settings.token_lifetime
  local token, exp = _M.issue {
    lifetime = lifetime, appid = client_id, oid = client_id,
    aud = resource:gsub("/$", ""),
  }
  return token, exp, lifetime
end

-- syntax: auth.imds()   GET /metadata/identity/oauth2/token (IMDS)
function _M.imds()
  if ngx.req.get_method() ~= "GET" then
    return util.send(405, json.object("error", "invalid_request", "error_description", "Only GET is allowed"))
  end
  if util.single(ngx.req.get_headers()["metadata"]) ~= "true" then
    return util.send(400, json.object("error", "invalid_request",
      "error_description", "Required metadata header not specified"))
  end
  if not query("api-version") then
    return util.send(400, json.object("error", "invalid_request",
      "error_description", "Required query variable 'api-version' is missing"))
  end
  local resource = query("resource")
  if not resource then
    return util.send(400, json.object("error", "invalid_request",
      "error_description", "Required query variable 'resource' is missing"))
  end
  local client_id = query("client_id") or state.mi_client_id
  local token, exp, lifetime = mi_token(resource, client_id)
  util.send(200, json.object(
    "access_token", token, "client_id", client_id,
    "expires_in", tostring(lifetime), "expires_on", tostring(exp),
    "ext_expires_in", tostring(lifetime), "not_before", tostring(exp - lifetime),
    "resource", resource, "token_type", "Bearer"))
end

-- syntax: auth.app_service()   GET /msi/token (App Service IDENTITY_ENDPOINT)
function _M.app_service()
  if ngx.req.get_method() ~= "GET" then
    return util.send(405, json.object("statusCode", 405, "message", "Only GET is allowed"))
  end
  local got = util.single(ngx.req.get_headers()["x-identity-header"])
  if got == nil or not constant_eq(got, state.identity_header) then
    return util.send(401, json.object("statusCode", 401,
      "message", "Unauthorized: the X-IDENTITY-HEADER header is missing or wrong."))
  end
  if not query("api-version") then
    return util.send(400, json.object("statusCode", 400, "message", "api-version is required"))
  end
  local resource = query("resource")
  if not resource then
    return util.send(400, json.object("statusCode", 400, "message", "resource is required"))
  end
  local client_id = query("client_id") or state.mi_client_id
  local token, exp = mi_token(resource, client_id)
  util.send(200, json.object(
    "access_token", token, "expires_on", tostring(exp), "resource", resource,
    "token_type", "Bearer", "client_id", client_id))
end

-- syntax: info, err = auth.register_client{ client_id=, client_secret=?, certificate_pem=?, federated_token=? }
function _M.register_client(t)
  if type(t.client_id) ~= "string" or t.client_id == "" then
    return nil, "client_id must be a non-empty string"
  end
  local client = { certs = {} }
  if t.client_secret ~= nil then
    if type(t.client_secret) ~= "string" or t.client_secret == "" then
      return nil, "client_secret must be a non-empty string"
    end
    client.secret = t.client_secret
  end
  local thumbprint
  if t.certificate_pem ~= nil then
    local cert, err = crypto.load_certificate(t.certificate_pem)
    if not cert then return nil, err end
    thumbprint = util.b64url(cert.sha1)
    client.certs[thumbprint] = cert
  end
  if t.federated_token ~= nil then
    if type(t.federated_token) ~= "string" or t.federated_token == "" then
      return nil, "federated_token must be a non-empty string"
    end
    client.federated = t.federated_token
  end
  if not client.secret and not thumbprint and not client.federated then
    return nil, "give client_secret, certificate_pem or federated_token"
  end
  state.clients[t.client_id] = client
  return { client_id = t.client_id, x5t = thumbprint }
end

return _M
