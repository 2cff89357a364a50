-- acr-emulator: bearer token checks on ARM, the Entra ID token endpoint (client
-- secret and certificate assertion), IMDS and the App Service identity endpoint.
package.path = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/?.lua;" .. package.path
local helpers = require "helpers"
local q = helpers.quote

local TENANT = "11111111-2222-3333-4444-555555555555"
local SCOPE = "https://management.azure.com/.default"

describe("acr-emulator auth #emulator", function()
  local em, REG, work

  local function token_url(tenant)
    return em.url .. "/" .. (tenant or TENANT) .. "/oauth2/v2.0/token"
  end

  local function get_token(form)
    local s, h, body = helpers.http("POST", token_url(), { form = form })
    return s, h, helpers.json_decode(body)
  end

  local function b64url_file(path)
    local ok, out = helpers.sh("openssl base64 -A -in " .. q(path) .. " | tr '+/' '-_' | tr -d '=\n'")
    assert(ok, out)
    return out
  end

  local function b64url(s)
    local f = work .. "/b64.in"
    helpers.write_file(f, s)
    return b64url_file(f)
  end

  -- A self-signed RSA certificate, its key and its x5t.
  local function make_cert(name)
    local key, cert = work .. "/" .. name .. ".key", work .. "/" .. name .. ".pem"
    assert(helpers.sh(("openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 2 -subj /CN=%s")
      :format(q(key), q(cert), name)))
    local ok, x5t = helpers.sh(("openssl x509 -in %s -outform DER | openssl dgst -sha1 -binary | openssl base64 -A | tr '+/' '-_' | tr -d '=\n'")
      :format(q(cert)))
    assert(ok, x5t)
    return { key = key, pem = helpers.read_file(cert), x5t = x5t }
  end

  local function assertion(cert, claims, header)
    local h = b64url(helpers.json_encode(header or { alg = "RS256", typ = "JWT", x5t = cert.x5t }))
    local p = b64url(helpers.json_encode(claims))
    local input = work .. "/input"
    helpers.write_file(input, h .. "." .. p)
    local sig = work .. "/sig"
    assert(helpers.sh(("openssl dgst -sha256 -sign %s -out %s %s"):format(q(cert.key), q(sig), q(input))))
    return h .. "." .. p .. "." .. b64url_file(sig)
  end

  local function claims(client_id, over)
    local now = os.time()
    local c = { aud = token_url(), iss = client_id, sub = client_id, jti = "jti-" .. now,
      nbf = now - 10, exp = now + 600 }
    for k, v in pairs(over or {}) do c[k] = v end
    return c
  end

  setup(function()
    em = helpers.start_emulator { retry_after = 0, token_lifetime = 1800,
      registries = { "sub-auth/rg-auth/authregistry" } }
    REG = em:registry_path("sub-auth", "rg-auth", "authregistry")
    work = helpers.tmpdir("acr-spec-auth")
  end)

  lazy_teardown(function()
    if em then em:stop() end
    helpers.rmdir(work)
  end)

  describe("ARM bearer tokens", function()
    local function expect_401(token, code)
      local s, h, _, j = em:arm("GET", REG .. "/tokens", { token = token })
      assert.are.equal(401, s)
      assert.are.equal(code, j.error.code)
      assert.is_string(j.error.message)
      assert.matches('^Bearer authorization_uri="[^"]+", error="invalid_token", error_description="', h["www-authenticate"])
      assert.is_string(h["x-ms-request-id"])
    end

    it("accepts a token it issued", function()
      assert.are.equal(200, (em:arm("GET", REG .. "/tokens", { token = em:token() })))
    end)

    it("refuses a missing Authorization header", function()
      expect_401(false, "AuthenticationFailed")
    end)

    it("refuses bogus and tampered tokens", function()
      expect_401("not-a-jwt", "InvalidAuthenticationToken")
      local good = em:token()
      local h, p, s = good:match("^([^.]+)%.([^.]+)%.([^.]+)$")
      expect_401(h .. "." .. p .. "." .. s:reverse(), "InvalidAuthenticationToken")
      expect_401(h .. "." .. b64url('{"exp":9999999999}') .. "." .. s, "InvalidAuthenticationToken")
    end)

    it("refuses tokens another emulator issued", function()
      local other = helpers.start_emulator {}
      finally(function() other:stop() end)
      expect_401(other:token(), "InvalidAuthenticationToken")
    end)

    it("refuses expired tokens with ExpiredAuthenticationToken", function()
      expect_401(em:token(-5), "ExpiredAuthenticationToken")
    end)

    it("checks auth before anything else, even on unknown paths", function()
      local s = em:arm("GET", "/subscriptions/x/nothing", { token = false })
      assert.are.equal(401, s)
    end)
  end)

  describe("token endpoint", function()
    it("issues a token for the default client and secret", function()
      local s, h, j = get_token { grant_type = "client_credentials", client_id = em.client_id,
        client_secret = em.client_secret, scope = SCOPE }
      assert.are.equal(200, s)
      assert.matches("^application/json", h["content-type"])
      assert.are.equal("Bearer", j.token_type)
      assert.are.equal(1800, j.expires_in)
      assert.are.equal(1800, j.ext_expires_in)
      assert.matches("^[%w%-_]+%.[%w%-_]+%.[%w%-_]+$", j.access_token)
      assert.are.equal(200, (em:arm("GET", REG .. "/scopeMaps", { token = j.access_token })))
    end)

    it("answers a wrong secret with AADSTS7000215", function()
      local s, _, j = get_token { grant_type = "client_credentials", client_id = em.client_id,
        client_secret = "wrong", scope = SCOPE }
      assert.are.equal(401, s)
      assert.are.equal("invalid_client", j.error)
      assert.matches("^AADSTS7000215: Invalid client secret provided", j.error_description)
      assert.are.same({ 7000215 }, j.error_codes)
      assert.is_string(j.trace_id)
      assert.is_string(j.correlation_id)
      assert.is_string(j.timestamp)
    end)

    it("rejects unknown clients, bad scopes, grants and missing credentials", function()
      local cases = {
        { { grant_type = "client_credentials", client_id = "nobody", client_secret = "x", scope = SCOPE },
          400, "unauthorized_client", 700016 },
        { { grant_type = "client_credentials", client_id = em.client_id, client_secret = em.client_secret,
          scope = "https://management.azure.com/user_impersonation" }, 400, "invalid_scope", 1002012 },
        { { grant_type = "password", client_id = em.client_id, scope = SCOPE }, 400, "unsupported_grant_type", 70003 },
        { { grant_type = "client_credentials", client_id = em.client_id, scope = SCOPE }, 401, "invalid_client", 7000218 },
        { { grant_type = "client_credentials", client_secret = "x", scope = SCOPE }, 400, "invalid_request", 900144 },
      }
      for i, c in ipairs(cases) do
        local s, _, j = get_token(c[1])
        assert.are.equal(c[2], s, "case " .. i)
        assert.are.equal(c[3], j.error, "case " .. i)
        assert.are.same({ c[4] }, j.error_codes, "case " .. i)
        assert.matches("^AADSTS" .. c[4] .. ":", j.error_description)
      end
    end)

    it("registers clients through the admin endpoint", function()
      local r, st = em:admin("POST", "clients", { client_id = "client-two", client_secret = "s3cret" })
      assert.are.equal(200, st)
      assert.are.equal("client-two", r.client_id)
      local s = get_token { grant_type = "client_credentials", client_id = "client-two", client_secret = "s3cret", scope = SCOPE }
      assert.are.equal(200, s)
      local _, st2 = em:admin("POST", "clients", { client_id = "client-three" })
      assert.are.equal(400, st2)
      local _, st3 = em:admin("POST", "clients", { client_id = "client-four", certificate_pem = "not a pem" })
      assert.are.equal(400, st3)
    end)

    describe("client certificate assertions", function()
      local cert, other
      setup(function()
        cert = make_cert("assert-one")
        other = make_cert("assert-two")
        local r, st = em:admin("POST", "clients", { client_id = "cert-client", certificate_pem = cert.pem })
        assert.are.equal(200, st)
        assert.are.equal(cert.x5t, r.x5t)
      end)

      local function with_assertion(a)
        return get_token { grant_type = "client_credentials", client_id = "cert-client", scope = SCOPE,
          client_assertion_type = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
          client_assertion = a }
      end

      it("accepts a valid RS256 assertion", function()
        local s, _, j = with_assertion(assertion(cert, claims("cert-client")))
        assert.are.equal(200, s)
        assert.are.equal(200, (em:arm("GET", REG .. "/tokens", { token = j.access_token })))
      end)

      it("rejects a signature by another key", function()
        local a = assertion(other, claims("cert-client"), { alg = "RS256", typ = "JWT", x5t = cert.x5t })
        local s, _, j = with_assertion(a)
        assert.are.equal(401, s)
        assert.are.same({ 700027 }, j.error_codes)
      end)

      it("rejects an unregistered certificate", function()
        local s, _, j = with_assertion(assertion(other, claims("cert-client")))
        assert.are.equal(401, s)
        assert.are.same({ 700027 }, j.error_codes)
      end)

      it("rejects expired assertions, wrong audience and wrong issuer", function()
        local s, _, j = with_assertion(assertion(cert, claims("cert-client", { exp = os.time() - 60 })))
        assert.are.equal(401, s)
        assert.are.same({ 700024 }, j.error_codes)
        s, _, j = with_assertion(assertion(cert, claims("cert-client", { aud = "https://login.microsoftonline.com/x/oauth2/v2.0/token" })))
        assert.are.equal(401, s)
        assert.are.same({ 700021 }, j.error_codes)
        s, _, j = with_assertion(assertion(cert, claims("cert-client", { iss = "someone-else" })))
        assert.are.equal(401, s)
        assert.are.same({ 700023 }, j.error_codes)
      end)

      it("rejects a wrong assertion type", function()
        local s, _, j = get_token { grant_type = "client_credentials", client_id = "cert-client", scope = SCOPE,
          client_assertion_type = "urn:other", client_assertion = assertion(cert, claims("cert-client")) }
        assert.are.equal(400, s)
        assert.are.equal("invalid_request", j.error)
      end)
    end)
  end)

  describe("managed identity", function()
    local IMDS = "/metadata/identity/oauth2/token?api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F"

    it("IMDS requires the Metadata header", function()
      local s, _, body = em:request("GET", IMDS)
      assert.are.equal(400, s)
      assert.are.equal("invalid_request", helpers.json_decode(body).error)
    end)

    it("IMDS answers with string fields and a working token", function()
      local s, _, body = em:request("GET", IMDS, { headers = { Metadata = "true" } })
      assert.are.equal(200, s)
      local j = helpers.json_decode(body)
      assert.are.equal("Bearer", j.token_type)
      assert.are.equal("1800", j.expires_in)
      assert.matches("^%d+$", j.expires_on)
      assert.matches("^%d+$", j.not_before)
      assert.are.equal("https://management.azure.com/", j.resource)
      assert.is_string(j.client_id)
      assert.are.equal(200, (em:arm("GET", REG .. "/tokens", { token = j.access_token })))
      local s2 = em:request("GET", "/metadata/identity/oauth2/token?api-version=2018-02-01", { headers = { Metadata = "true" } })
      assert.are.equal(400, s2)
    end)

    it("App Service endpoint checks X-IDENTITY-HEADER, which admin can change", function()
      local path = "/msi/token?api-version=2019-08-01&resource=https%3A%2F%2Fmanagement.azure.com"
      assert.are.equal(401, (em:request("GET", path)))
      assert.are.equal(401, (em:request("GET", path, { headers = { ["X-IDENTITY-HEADER"] = "wrong" } })))
      local s, _, body = em:request("GET", path, { headers = { ["X-IDENTITY-HEADER"] = "emulator-identity-header" } })
      assert.are.equal(200, s)
      local j = helpers.json_decode(body)
      assert.matches("^%d+$", j.expires_on)
      assert.are.equal("https://management.azure.com", j.resource)
      assert.are.equal(200, (em:arm("GET", REG .. "/tokens", { token = j.access_token })))
      local _, st = em:admin("POST", "identity", { header = "new-secret-header" })
      assert.are.equal(200, st)
      assert.are.equal(401, (em:request("GET", path, { headers = { ["X-IDENTITY-HEADER"] = "emulator-identity-header" } })))
      assert.are.equal(200, (em:request("GET", path, { headers = { ["X-IDENTITY-HEADER"] = "new-secret-header" } })))
    end)
  end)
end)
