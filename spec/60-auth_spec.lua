-- Credentials against the emulator's token endpoints over TLS: each kind, its errors,
-- the token cache and its refresh, recovery from a 401, default()'s order and message.
local ch = require "client_helpers"
local helpers = ch.helpers
local acr = require "acr"
local cjson = require "cjson"

local TENANT = "00000000-0000-0000-0000-0000000000e1"
local q = helpers.quote

local run_lua = helpers.run_lua

-- Code for run_lua: make a client on the emulator with the credential `expr`, GET a
-- missing token, print what came back.
local function probe(em, expr)
  return ([[
    local acr = require "acr"
    local cred, cerr = %s
    if not cred then print("NOCRED " .. tostring(cerr)) return end
    local c = acr.client{ subscription_id = "s1", resource_group = "rg1", registry = "probereg",
      endpoint = %q, ca_file = %q, credential = cred, poll_interval = 0 }
    local tok, err = c:get_token("nosuch-token")
    print(err and (err.code .. " " .. tostring(err.status) .. " " .. err.message) or "OK")
  ]]):format(expr, em.url, em.ca_file)
end

describe("credentials #emulator #auth", function()
  local em, tmp
  setup(function()
    em = helpers.start_emulator{ tls = true, retry_after = 0, polls = 0, registries = { "s1/rg1/probereg" } }
    tmp = helpers.tmpdir("acr-auth")
  end)
  teardown(function()
    if em then em:stop() end
    if tmp then helpers.rmdir(tmp) end
  end)
  before_each(function() em:reset() end)

  local function secret_cred(over)
    local o = { tenant_id = TENANT, client_id = em.client_id, client_secret = em.client_secret,
                authority_host = em.url }
    for k, v in pairs(over or {}) do o[k] = v end
    return acr.credential.client_secret(o)
  end

  it("client_secret: fetches one token and reuses it", function()
    local c = ch.client(em, { credential = secret_cred() })
    for _ = 1, 5 do
      local _, err = c:get_token("nosuch-token")
      assert.are.equal(404, err.status)   -- authenticated: ARM answered
    end
    assert.are.equal(1, ch.count_requests(em, "POST oauth2"))
    assert.are.equal(5, ch.count_requests(em, "GET token"))
    local cred = secret_cred()
    assert.are.equal("client_secret", cred:kind())
    assert.matches("^acr%.Credential%(client_secret, client ", tostring(cred))
    assert.is_nil(tostring(cred):find(em.client_secret, 1, true))
  end)

  it("client_secret: the token request goes through the operation like any other", function()
    local c = ch.client(em, { credential = secret_cred() })
    local op = c:prepare("get_token", "abcde")
    local req = op:next_request()
    assert.is_true(req.auth)
    assert.are.equal("POST", req.method)
    assert.are.equal(em.url .. "/" .. TENANT .. "/oauth2/v2.0/token", req.url)
    assert.are.equal("application/x-www-form-urlencoded", req.headers["Content-Type"])
    assert.matches("grant_type=client_credentials", req.body)
    assert.matches("scope=" .. em.url:gsub("[:/]", function(ch_) return ("%%%02X"):format(ch_:byte()) end):gsub("%%", "%%%%")
                   .. "%%2F%.default", req.body)
    assert.is_nil(req.headers.Authorization)
    -- feed it the emulator's answer by hand, then the ARM request carries the token
    local status, headers, body = em:request("POST", req.url:sub(#em.url + 1),
      { body = req.body, headers = { ["Content-Type"] = req.headers["Content-Type"] } })
    op:feed(status, headers, body)
    local arm = op:next_request()
    assert.is_nil(arm.auth)
    assert.are.equal("GET", arm.method)
    assert.matches("^Bearer ey", arm.headers.Authorization)
  end)

  it("client_secret: a wrong secret surfaces the AADSTS error, not the secret", function()
    local c = ch.client(em, { credential = secret_cred{ client_secret = "wrong-secret-value" } })
    local tok, err = c:get_token("abcde")
    assert.is_nil(tok)
    assert.are.equal("AuthenticationFailed", err.code)
    assert.are.equal("AADSTS7000215", err.aadsts)
    assert.are.equal("invalid_client", err.auth_error)
    assert.are.equal(401, err.status)
    assert.matches("AADSTS7000215", err.message)
    assert.is_nil(tostring(err):find("wrong-secret-value", 1, true))
    assert.are.equal(0, ch.count_requests(em, "GET token"))
  end)

  it("a token that has expired when it arrives ends the call after one fetch", function()
    em:admin("POST", "inject", { path = "/oauth2/v2.0/token", status = 200, times = 50,
      body = '{"token_type":"Bearer","access_token":"eyJ.expired.x","expires_on":1000}' })
    local c = ch.client(em, { credential = secret_cred() })
    local tok, err = c:get_token("abcde")
    assert.is_nil(tok)
    assert.are.equal("AuthenticationFailed", err.code)
    assert.matches("had already expired when it arrived", err.message)
    assert.are.equal(1, ch.count_requests(em, "POST injected"))
    assert.are.equal(0, ch.count_requests(em, "GET token"))
    -- a token that expires "now" is no better
    em:reset()
    em:admin("POST", "inject", { path = "/oauth2/v2.0/token", status = 200, times = 50,
      body = ('{"token_type":"Bearer","access_token":"eyJ.expired.x","expires_on":%d}'):format(os.time()) })
    tok, err = ch.client(em, { credential = secret_cred() }):get_token("abcde")
    assert.is_nil(tok)
    assert.matches("had already expired", err.message)
    assert.are.equal(1, ch.count_requests(em, "POST injected"))
  end)

  it("client_secret: raises on misuse, naming the field", function()
    local ok, err = pcall(acr.credential.client_secret, { tenant_id = TENANT, client_id = "x" })
    assert.is_false(ok)
    assert.matches("^bad argument #1 to 'acr%.credential%.client_secret' %(option 'client_secret' is required%)$", err)
    ok, err = pcall(acr.credential.client_secret, { tenant_id = TENANT, client_id = "x", client_secret = "y", colour = 1 })
    assert.matches("unknown option 'colour'", err)
    ok, err = pcall(acr.credential.client_secret, { tenant_id = "a/b", client_id = "x", client_secret = "y" })
    assert.matches("'tenant_id' is not a tenant id", err)
  end)

  it("refreshes a token before it expires (5 minutes, or half a short life), counting token requests", function()
    em:settings{ token_lifetime = 4 }   -- fresh for 2 s, then refreshed while still valid
    local c = ch.client(em, { credential = secret_cred() })
    c:get_token("nosuch-token"); c:get_token("nosuch-token")
    assert.are.equal(1, ch.count_requests(em, "POST oauth2"))
    helpers.sh("sleep 2.5")
    local _, err = c:get_token("nosuch-token")
    assert.are.equal(404, err.status)
    assert.are.equal(2, ch.count_requests(em, "POST oauth2"))
    c:get_token("nosuch-token")
    assert.are.equal(2, ch.count_requests(em, "POST oauth2"))   -- the new one is used, not refetched
  end)

  it("uses a token with less than 5 minutes to live instead of fetching again and again", function()
    em:settings{ token_lifetime = 120 }
    local c = ch.client(em, { credential = secret_cred() })
    for _ = 1, 3 do
      local _, err = c:get_token("nosuch-token")
      assert.are.equal(404, err.status)
    end
    assert.are.equal(1, ch.count_requests(em, "POST oauth2"))
  end)

  it("keeps using a still-valid token when a refresh fails", function()
    em:settings{ token_lifetime = 6 }
    local cred = secret_cred()
    local c = ch.client(em, { credential = cred })
    c:get_token("nosuch-token")
    helpers.sh("sleep 3.5")
    em:admin("POST", "inject", { path = "/oauth2/v2.0/token", status = 500, times = 5,
      body = '{"error":"temporarily_unavailable","error_description":"AADSTS50000: busy"}' })
    local _, err = c:get_token("nosuch-token")
    assert.are.equal(404, err.status)      -- the old token still worked
    assert.are.equal(1, ch.count_requests(em, "POST injected"))
    assert.is_true(cred:expires_in() > 0)
  end)

  it("recovers from a 401 by dropping the token and asking once more", function()
    local c = ch.client(em, { credential = secret_cred() })
    c:get_token("nosuch-token")
    em:admin("POST", "revoke", {})         -- every token issued so far is now refused
    local _, err = c:get_token("nosuch-token")
    assert.are.equal(404, err.status)
    assert.are.equal(2, ch.count_requests(em, "POST oauth2"))
  end)

  it("managed_identity: IMDS with Metadata: true, for a chosen identity", function()
    local cred = acr.credential.managed_identity{ client_id = "11111111-2222-3333-4444-555555555555",
                                                  imds_endpoint = em.url }
    local c = ch.client(em, { credential = cred })
    local _, err = c:get_token("nosuch-token")
    assert.are.equal(404, err.status)
    local log = em:log()
    assert.are.equal("/metadata/identity/oauth2/token", log[1].path)
    assert.matches("client_id=11111111%-2222", log[1].query)
    assert.matches("resource=", log[1].query)
    local ok = pcall(acr.credential.managed_identity, { client_id = "a", object_id = "b" })
    assert.is_false(ok)
  end)

  it("managed_identity: retries IMDS's transient answers", function()
    em:admin("POST", "inject", { path = "/metadata/identity/oauth2/token", status = 503, times = 2,
      headers = { ["Retry-After"] = "0" }, body = '{"error":"busy"}' })
    local cred = acr.credential.managed_identity{ imds_endpoint = em.url }
    local _, err = ch.client(em, { credential = cred }):get_token("nosuch-token")
    assert.are.equal(404, err.status)
    assert.are.equal(2, ch.count_requests(em, "GET injected"))
  end)

  it("managed_identity: the App Service endpoint from IDENTITY_ENDPOINT/IDENTITY_HEADER", function()
    local ok, out = run_lua({ IDENTITY_ENDPOINT = em.url .. "/msi/token",
                              IDENTITY_HEADER = "emulator-identity-header" },
                            probe(em, "acr.credential.managed_identity()"))
    assert.is_true(ok, out)
    assert.matches("ResourceNotFound 404", out)
    local bad_ok, bad = run_lua({ IDENTITY_ENDPOINT = em.url .. "/msi/token", IDENTITY_HEADER = "zz-bad-header-value" },
                                probe(em, "acr.credential.managed_identity()"))
    assert.is_true(bad_ok, bad)
    assert.matches("AuthenticationFailed 401 managed identity", bad)
    assert.is_nil(bad:find("zz-bad-header-value", 1, true))
  end)

  it("workload_identity: the federated token from the file is the assertion", function()
    local file = tmp .. "/federated-token"
    local federated = em:token()   -- any JWT-shaped token stands in for the cluster's
    helpers.write_file(file, federated .. "\n")
    assert(em:admin("POST", "clients", { client_id = "wi-client", federated_token = federated }))
    local cred = assert(acr.credential.workload_identity{ tenant_id = TENANT, client_id = "wi-client",
                                                          token_file = file, authority_host = em.url })
    local _, err = ch.client(em, { credential = cred }):get_token("nosuch-token")
    assert.are.equal(404, err.status, tostring(err))
    local none, nerr = run_lua({}, "local acr = require 'acr' print(select(2, acr.credential.workload_identity()))")
    assert.is_true(none, nerr)
    assert.matches("AZURE_FEDERATED_TOKEN_FILE is not set", nerr)
  end)

  it("workload_identity: a missing file is a clear error", function()
    local cred = assert(acr.credential.workload_identity{ tenant_id = TENANT, client_id = "wi-client",
                                                          token_file = tmp .. "/absent", authority_host = em.url })
    local _, err = ch.client(em, { credential = cred }):get_token("nosuch-token")
    assert.are.equal("AuthenticationFailed", err.code)
    assert.matches("cannot read the federated token file", err.message)
  end)

  describe("client_certificate", function()
    local dir
    -- A CA-signed leaf (valid, expired), a self-signed cert, a mismatched key, a PKCS#12.
    setup(function()
      dir = tmp .. "/certs"
      local ok, out = helpers.sh(table.concat({
        "mkdir -p " .. q(dir), "cd " .. q(dir),
        "printf '[ca]\\ndefault_ca=d\\n[d]\\ndatabase=index.txt\\nnew_certs_dir=.\\nserial=serial\\n"
          .. "default_md=sha256\\npolicy=p\\nunique_subject=no\\n[p]\\ncommonName=supplied\\n' > ca.cnf",
        ": > index.txt", "echo 01 > serial",
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca_key.pem -out ca.pem -days 30 -subj /CN=t-ca",
        "openssl req -new -newkey rsa:2048 -nodes -keyout leaf_key.pem -out leaf.csr -subj /CN=t-leaf",
        "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca_key.pem -in leaf.csr -out leaf.pem -days 30 -notext",
        "cat leaf.pem leaf_key.pem > leaf_both.pem",
        "openssl ca -batch -config ca.cnf -cert ca.pem -keyfile ca_key.pem -in leaf.csr -out old.pem"
          .. " -startdate 20200101000000Z -enddate 20200201000000Z -notext",
        "cat old.pem leaf_key.pem > expired.pem",
        "cat leaf.pem ca_key.pem > mismatch.pem",
        "openssl pkcs12 -export -in leaf.pem -inkey leaf_key.pem -certfile ca.pem -passout pass:p12-pass -out leaf.p12",
      }, " && ") .. " >/dev/null 2>&1")
      assert(ok, out)
    end)
    before_each(function()
      assert(em:admin("POST", "clients", { client_id = "cert-client",
                                           certificate_pem = helpers.read_file(dir .. "/leaf.pem") }))
    end)

    local function cert_cred(path, extra)
      local o = { tenant_id = TENANT, client_id = "cert-client", certificate_path = path,
                  authority_host = em.url }
      for k, v in pairs(extra or {}) do o[k] = v end
      return acr.credential.client_certificate(o)
    end

    it("signs an RS256 assertion the token endpoint accepts (PEM)", function()
      local cred = assert(cert_cred(dir .. "/leaf_both.pem"))
      local _, err = ch.client(em, { credential = cred }):get_token("nosuch-token")
      assert.are.equal(404, err.status, tostring(err))
    end)

    it("reads PKCS#12 with its password, and sends the chain as x5c when asked", function()
      local cred = assert(cert_cred(dir .. "/leaf.p12", { password = "p12-pass", send_certificate_chain = true }))
      local c = ch.client(em, { credential = cred })
      local req = c:prepare("get_token", "abcde"):next_request()
      local assertion = req.body:match("client_assertion=([^&]+)")
      local b64 = assertion:match("^([^.]+)"):gsub("-", "+"):gsub("_", "/")
      b64 = b64 .. ("="):rep((4 - #b64 % 4) % 4)
      local header = cjson.decode(require("recordings").base64_decode(b64))
      assert.are.equal("RS256", header.alg)
      assert.is_string(header.x5t)
      assert.are.equal(2, #header.x5c)
      local _, err = c:get_token("nosuch-token")
      assert.are.equal(404, err.status, tostring(err))
    end)

    it("refuses a wrong PKCS#12 password without echoing it", function()
      local cred, err = cert_cred(dir .. "/leaf.p12", { password = "not-the-pass" })
      assert.is_nil(cred)
      assert.are.equal("InvalidCertificate", err.code)
      assert.is_nil(err.message:find("not-the-pass", 1, true))
    end)

    it("refuses an expired certificate", function()
      local cred, err = cert_cred(dir .. "/expired.pem")
      assert.is_nil(cred)
      assert.are.equal("InvalidCertificate", err.code)
      assert.matches("expired", err.message)
    end)

    it("refuses a key that does not match the certificate", function()
      local cred, err = cert_cred(dir .. "/mismatch.pem")
      assert.is_nil(cred)
      assert.are.equal("InvalidCertificate", err.code)
      assert.matches("match", err.message)
    end)

    it("is refused by the endpoint when the certificate is not registered", function()
      local cred = assert(cert_cred(dir .. "/leaf_both.pem", { client_id = "someone-else" }))
      local _, err = ch.client(em, { credential = cred }):get_token("abcde")
      assert.are.equal("AuthenticationFailed", err.code)
      assert.is_string(err.aadsts)
    end)
  end)

  describe("azure_cli", function()
    local function fake_az(body)
      local path = tmp .. "/az"
      helpers.write_file(path, "#!/bin/sh\n" .. body)
      helpers.sh("chmod +x " .. q(path))
      return path
    end

    it("runs az without a shell and parses expires_on", function()
      local token = em:token()
      local az = fake_az(([=[
printf '%%s\n' "$@" > %s/az-args
cat <<JSON
{"accessToken": "%s", "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": %d,
 "subscription": "s1", "tenant": "t1", "tokenType": "Bearer"}
JSON
]=]):format(tmp, token, os.time() + 3600))
      local cred = acr.credential.azure_cli{ az = az, tenant_id = "t1" }
      local _, err = ch.client(em, { credential = cred }):get_token("nosuch-token")
      assert.are.equal(404, err.status)
      local args = helpers.read_file(tmp .. "/az-args")
      assert.are.equal("account\nget-access-token\n--output\njson\n--resource\n" .. em.url .. "\n--tenant\nt1\n", args)
      assert.is_true(cred:expires_in() > 3000)
    end)

    it("runs az once when its token has already expired", function()
      local az = fake_az(([=[
echo run >> %s/az-runs
printf '{"accessToken":"eyJ.cli.x","expiresOn":"2001-01-01 00:00:00.000000","tokenType":"Bearer"}\n'
]=]):format(tmp))
      os.remove(tmp .. "/az-runs")
      local _, err = ch.client(em, { credential = acr.credential.azure_cli{ az = az } }):get_token("abcde")
      assert.are.equal("AuthenticationFailed", err.code)
      assert.matches("Azure CLI: the token had already expired when it arrived", err.message)
      assert.are.equal("run\n", helpers.read_file(tmp .. "/az-runs"))
      assert.are.equal(0, ch.count_requests(em, "GET token"))
    end)

    it("reports az's own complaint", function()
      local az = fake_az("echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n")
      local _, err = ch.client(em, { credential = acr.credential.azure_cli{ az = az } }):get_token("abcde")
      assert.are.equal("AuthenticationFailed", err.code)
      assert.matches("az exited with 1: ERROR: Please run 'az login'", err.message)
    end)

    it("gives up on an az that hangs", function()
      local az = fake_az("sleep 10\n")
      local _, err = ch.client(em, { credential = acr.credential.azure_cli{ az = az, timeout = 0.3 } })
        :get_token("abcde")
      assert.matches("did not answer within 0.3", err.message)
    end)

    -- syntax: yes = running_sleep(pid)   pid is a sleep that has not ended (a zombie has)
    local function running_sleep(pid)
      local stat = helpers.read_file("/proc/" .. pid .. "/stat") or ""
      local comm, state = stat:match("^%d+ %((.*)%) (%a)")
      return comm == "sleep" and state ~= "Z" and state ~= "X"
    end

    it("returns az's token at once when a background child of az still holds its output", function()
      -- as az's telemetry uploader does: started last, it inherits stdout and outlives az
      local pidfile = tmp .. "/az-grandchild"
      os.remove(pidfile)
      local az = fake_az(([=[
cat <<JSON
{"accessToken": "%s", "expiresOn": "2099-01-01 00:00:00.000000", "expires_on": %d, "tokenType": "Bearer"}
JSON
sleep 30 &
echo $! > %s
exit 0
]=]):format(em:token(), os.time() + 3600, pidfile))
      local pid
      finally(function()
        if pid and running_sleep(pid) then helpers.sh("kill -9 " .. pid) end
      end)
      local cred = acr.credential.azure_cli{ az = az, timeout = 20 }
      local t0 = os.time()
      local _, err = ch.client(em, { credential = cred }):get_token("nosuch-token")
      local took = os.time() - t0
      pid = tonumber(helpers.read_file(pidfile) or "")
      assert.is_number(pid)   -- the background child was started
      assert.are.equal(404, err.status, tostring(err))   -- authenticated with az's token
      assert.is_true(took < 5, "took " .. took .. " s of a 20 s timeout")
      assert.is_true(cred:expires_in() > 3000)
      -- az's process group went with az: the background child is not left running
      for _ = 1, 50 do
        if not running_sleep(pid) then break end
        helpers.sh("sleep 0.02")
      end
      assert.is_false(running_sleep(pid))
    end)

    it("says when az is not installed", function()
      local _, err = ch.client(em, { credential = acr.credential.azure_cli{ az = tmp .. "/no-such-az" } })
        :get_token("abcde")
      assert.matches("not found", err.message)
    end)

    it("refuses a tenant that is not a tenant id before running anything", function()
      local ok, err = pcall(acr.credential.azure_cli, { tenant_id = "t; touch /tmp/pwned" })
      assert.is_false(ok)
      assert.matches("not a tenant id", err)
    end)
  end)

  describe("environment and default()", function()
    -- PATH is a folder of the spec's own, so that whether the machine has an `az` (Debian's
    -- azure-cli, logged in or not) changes nothing; a case below puts a fake one there.
    local base_env, path_dir
    before_each(function()
      path_dir = tmp .. "/path"
      helpers.rmdir(path_dir)
      assert(helpers.sh("mkdir -p " .. q(path_dir)))
      base_env = { PATH = path_dir, ACR_IMDS_ENDPOINT = "http://127.0.0.1:1", AZURE_AUTHORITY_HOST = em.url }
    end)

    -- syntax: path_az(script)   an executable az on the child's PATH, running script (sh)
    local function path_az(script)
      helpers.write_file(path_dir .. "/az", "#!/bin/sh\n" .. script)
      assert(helpers.sh("chmod +x " .. q(path_dir .. "/az")))
    end

    -- syntax: out = default_stops(env, pattern)   default() in a child with env ends with
    -- an AuthenticationFailed that matches pattern, from the member that failed, not
    -- the chain's "no credential worked" summary
    local function default_stops(env, pattern)
      local ok, out = run_lua(env, probe(em, "acr.credential.default()"))
      assert.is_true(ok, out)
      assert.matches("AuthenticationFailed", out)
      assert.matches(pattern, out)
      assert.is_nil(out:find("no credential worked", 1, true))
      return out
    end

    it("environment(): a client secret from AZURE_* variables", function()
      local env = { AZURE_TENANT_ID = TENANT, AZURE_CLIENT_ID = em.client_id, AZURE_CLIENT_SECRET = em.client_secret }
      for k, v in pairs(base_env) do env[k] = v end
      local ok, out = run_lua(env, probe(em, "acr.credential.environment()"))
      assert.is_true(ok, out)
      assert.matches("ResourceNotFound 404", out)
    end)

    it("environment(): says which variable is missing", function()
      local ok, out = run_lua({ AZURE_TENANT_ID = TENANT }, probe(em, "acr.credential.environment()"))
      assert.is_true(ok, out)
      assert.matches("NOCRED .*AZURE_CLIENT_ID is not set", out)
    end)

    it("default(): uses the environment first", function()
      local env = { AZURE_TENANT_ID = TENANT, AZURE_CLIENT_ID = em.client_id, AZURE_CLIENT_SECRET = em.client_secret }
      for k, v in pairs(base_env) do env[k] = v end
      local ok, out = run_lua(env, probe(em, "acr.credential.default()"))
      assert.is_true(ok, out)
      assert.matches("ResourceNotFound 404", out)
      assert.are.equal(1, ch.count_requests(em, "POST oauth2"))
      assert.are.equal(0, ch.count_requests(em, "GET imds"))
    end)

    it("default(): falls through to managed identity", function()
      local env = { ACR_IMDS_ENDPOINT = em.url, PATH = path_dir }
      local ok, out = run_lua(env, probe(em, "acr.credential.default()"))
      assert.is_true(ok, out)
      assert.matches("ResourceNotFound 404", out)
      assert.are.equal(1, ch.count_requests(em, "GET imds"))
    end)

    it("default(): a configured credential that Entra ID refuses ends the chain", function()
      -- a wrong secret (AADSTS7000215): managed identity and az are never tried
      path_az("echo ran > " .. tmp .. "/az-ran\nexit 1\n")
      os.remove(tmp .. "/az-ran")
      default_stops({ AZURE_TENANT_ID = TENANT, AZURE_CLIENT_ID = em.client_id, AZURE_CLIENT_SECRET = "wrong",
                      ACR_IMDS_ENDPOINT = em.url, PATH = path_dir, AZURE_AUTHORITY_HOST = em.url },
                    "AADSTS7000215")
      assert.are.equal(1, ch.count_requests(em, "POST oauth2"))
      assert.are.equal(0, ch.count_requests(em, "GET imds"))
      assert.is_nil(helpers.read_file(tmp .. "/az-ran"))
    end)

    it("default(): a workload identity whose token file cannot be read ends the chain", function()
      default_stops({ AZURE_TENANT_ID = TENANT, AZURE_CLIENT_ID = em.client_id, PATH = path_dir,
                      AZURE_FEDERATED_TOKEN_FILE = tmp .. "/no-such-token-file",
                      ACR_IMDS_ENDPOINT = em.url, AZURE_AUTHORITY_HOST = em.url },
                    "workload identity")
      assert.are.equal(0, ch.count_requests(em, "GET imds"))
    end)

    it("default(): a managed identity endpoint that refuses ends the chain; IMDS's 400 moves on", function()
      em:admin("POST", "identity", { header = "right-header" })
      local out = default_stops({ IDENTITY_ENDPOINT = em.url .. "/msi/token", IDENTITY_HEADER = "wrong-header",
                                  ACR_IMDS_ENDPOINT = em.url, PATH = path_dir, AZURE_AUTHORITY_HOST = em.url },
                                "managed identity")
      assert.is_nil(out:find("Azure CLI", 1, true))
      -- IMDS with no such identity (400) is "not here": the chain goes on to az
      em:reset()
      em:admin("POST", "inject", { path = "/metadata/identity/oauth2/token", status = 400, times = 5,
        body = '{"error":"invalid_request","error_description":"Identity not found"}' })
      local ok
      ok, out = run_lua({ ACR_IMDS_ENDPOINT = em.url, PATH = path_dir, AZURE_AUTHORITY_HOST = em.url },
                        probe(em, "acr.credential.default()"))
      assert.is_true(ok, out)
      assert.matches("no credential worked", out)
      assert.matches("managed identity: invalid_request: Identity not found.*Azure CLI: the Azure CLI %(az%) was not found", out)
    end)

    it("the loopback guard refuses, before connecting, an address outside 127.0.0.0/8", function()
      -- 0.0.0.0 reaches this machine on Linux, so nothing leaves it even if the guard failed
      local log = tmp .. "/guard.log"
      os.remove(log)
      local ok, out = run_lua({ ACR_LOOPBACK_GUARD = log, PATH = path_dir },
        probe(em, 'acr.credential.managed_identity{ imds_endpoint = "http://0.0.0.0:9" }'))
      assert.is_true(ok, out)
      assert.matches("ConnectionFailed nil managed identity: the connection to 0%.0%.0%.0:9 %(token endpoint%) failed", out)
      assert.matches("ACR_LOOPBACK_GUARD refused a connection to 0%.0%.0%.0 port 9", helpers.read_file(log) or "")
      -- loopback itself is let through: the same call to the emulator's IMDS works
      os.remove(log)
      ok, out = run_lua({ ACR_LOOPBACK_GUARD = log, PATH = path_dir },
        probe(em, ("acr.credential.managed_identity{ imds_endpoint = %q }"):format(em.url)))
      assert.is_true(ok, out)
      assert.matches("ResourceNotFound 404", out)
      assert.is_nil(helpers.read_file(log))
    end)

    it("default(): exclude_* leaves members out; may_block says whether az can run", function()
      local ok, out = run_lua(base_env, [[
        local acr = require "acr"
        print(acr.credential.default():may_block(), acr.credential.default{ exclude_azure_cli = true }:may_block(),
              acr.credential.azure_cli():may_block(), acr.credential.static("t"):may_block())
        print(pcall(acr.credential.default, { exclude_cli = true }))
        print(pcall(acr.credential.default, { exclude_azure_cli = "yes" }))
      ]])
      assert.is_true(ok, out)
      assert.matches("true\tfalse\ttrue\tfalse", out)
      assert.matches("bad argument #1 to 'acr%.credential%.default' %(unknown option 'exclude_cli'%)", out)
      assert.matches("'exclude_azure_cli' must be a boolean", out)
      local ok2, out2 = run_lua(base_env, probe(em, "acr.credential.default{ exclude_azure_cli = true, exclude_managed_identity = true }"))
      assert.is_true(ok2, out2)
      assert.matches("no credential worked", out2)
      assert.is_nil(out2:find("Azure CLI", 1, true))
      assert.is_nil(out2:find("managed identity", 1, true))
      assert.are.equal(0, ch.count_requests(em, "GET imds"))
    end)

    it("default(): lists each credential and why it did not work, in order", function()
      local ok, out = run_lua(base_env, probe(em, "acr.credential.default()"))
      assert.is_true(ok, out)
      assert.matches("AuthenticationFailed", out)
      assert.matches("no credential worked", out)
      local order = {}
      for _, what in ipairs{ "environment: AZURE_TENANT_ID is not set",
                              "workload_identity: AZURE_FEDERATED_TOKEN_FILE is not set",
                              "managed identity: the connection to 127%.0%.0%.1:1 %(token endpoint%) failed",
                              "Azure CLI: the Azure CLI %(az%) was not found" } do
        local at = out:find(what)
        assert.truthy(at, "missing: " .. what .. " in " .. out)
        order[#order + 1] = at
      end
      for i = 2, #order do assert.is_true(order[i] > order[i - 1]) end
    end)

    it("default(): an az on PATH that is not logged in says so, last", function()
      path_az("echo \"ERROR: Please run 'az login' to setup account.\" >&2\nexit 1\n")
      local ok, out = run_lua(base_env, probe(em, "acr.credential.default()"))
      assert.is_true(ok, out)
      assert.matches("no credential worked", out)
      assert.matches("managed identity: the connection to 127%.0%.0%.1:1 %(token endpoint%) failed.*Azure CLI: az exited with 1: "
        .. "ERROR: Please run 'az login'", out)
      assert.is_nil(out:find("was not found", 1, true))
    end)
  end)
end)

describe("token fetches in a row #unit", function()
  it("end with AuthenticationFailed when every token expires before it can be used", function()
    local c = ch.secret_client()
    local op = c:prepare("get_token", "tok-one")
    local fetches = 0
    for _ = 1, 20 do
      local req = op:next_request()
      if not req then break end
      assert.is_true(req.auth)          -- never an ARM request: no token lives long enough
      fetches = fetches + 1
      -- valid when it arrives (time() has whole seconds), gone by the next request
      op:feed(200, {}, cjson.encode{ access_token = "t" .. fetches, expires_in = 1, token_type = "Bearer" })
      os.execute("sleep 1.05")
    end
    local r, err = op:result()
    assert.is_nil(r)
    assert.are.equal("AuthenticationFailed", err.code)
    assert.matches("8 token requests in a row", err.message)
    assert.are.equal(8, fetches)
    c:close()
  end)
end)
