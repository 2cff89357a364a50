-- acr-emulator: the command line (start/stop/status, flags, errors) and a TLS
-- walk through a token's life with the recorded codes and headers.
package.path = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/?.lua;" .. package.path
local helpers = require "helpers"
local q = helpers.quote
local BIN = helpers.emulator_bin

local function port_of(url) return tonumber(url:match(":(%d+)$")) end

describe("acr-emulator CLI #emulator", function()
  local dirs = {}

  local function dir()
    local d = helpers.tmpdir("acr-spec-cli")
    dirs[#dirs + 1] = d
    return d
  end

  lazy_teardown(function()
    for _, d in ipairs(dirs) do
      helpers.sh(q(BIN) .. " stop --dir " .. q(d))
      helpers.rmdir(d)
    end
  end)

  it("starts from any directory, prints the URL, answers, and stops", function()
    local d = dir()
    local ok, out = helpers.sh("cd / && " .. q(BIN) .. " start --dir " .. q(d) .. " --polls 0 2>/dev/null")
    assert(ok, out)
    local url = out:match("^(%S+)\n$")
    assert.matches("^http://127%.0%.0%.1:%d+$", url)
    assert.are.equal(url, (helpers.read_file(d .. "/url"):gsub("%s+$", "")))
    local s, _, body = helpers.http("GET", url .. "/__admin/settings")
    assert.are.equal(200, s)
    assert.are.equal(0, helpers.json_decode(body).polls)
    local ok2, st = helpers.sh(q(BIN) .. " status --dir " .. q(d))
    assert.is_true(ok2)
    assert.are.equal(url, (st:gsub("%s+$", "")))
    -- a second start in the same directory is refused
    local ok3, err3 = helpers.sh(q(BIN) .. " start --dir " .. q(d))
    assert.is_false(ok3)
    assert.matches("already running", err3)
    assert(helpers.sh(q(BIN) .. " stop --dir " .. q(d)))
    assert.is_nil((helpers.http("GET", url .. "/__admin/ping")))
    assert.is_nil(helpers.read_file(d .. "/nginx.pid"))
    assert.is_false((helpers.sh(q(BIN) .. " status --dir " .. q(d))))
    assert.is_true((helpers.sh(q(BIN) .. " stop --dir " .. q(d)))) -- stopping twice is fine
  end)

  it("takes its port from ACR_TEST_PORT_BASE/ACR_TEST_PORT_COUNT when they are set", function()
    -- a range of 4, one of them taken by another emulator: both land inside it. Below
    -- 20000, where no other emulator of the suite and no outgoing connection's own port
    -- (Linux's ephemeral range starts at 32768) can be.
    local base = math.random(10000, 19000)
    local env = ("ACR_TEST_PORT_BASE=%d ACR_TEST_PORT_COUNT=4 "):format(base)
    local ports = {}
    for i = 1, 2 do
      local ok, out = helpers.sh(env .. q(BIN) .. " start --dir " .. q(dir()) .. " 2>&1")
      assert(ok, out)
      ports[i] = port_of(out:match("^(%S+)"))
      assert.is_true(ports[i] >= base and ports[i] <= base + 3, out)
    end
    assert.are_not.equal(ports[1], ports[2])
    -- helpers.candidate_ports walks the same range, whole, once
    local seen, n = {}, 0
    local real_getenv = os.getenv
    os.getenv = function(k)
      if k == "ACR_TEST_PORT_BASE" then return tostring(base) end
      if k == "ACR_TEST_PORT_COUNT" then return "3" end
      return real_getenv(k)
    end
    for p in helpers.candidate_ports() do seen[p] = true; n = n + 1 end
    os.getenv = real_getenv
    assert.are.equal(3, n)
    assert.are.same({ [base] = true, [base + 1] = true, [base + 2] = true }, seen)
    for _, bad in ipairs { "ACR_TEST_PORT_BASE=x", "ACR_TEST_PORT_BASE=65535 ACR_TEST_PORT_COUNT=2" } do
      local ok, out = helpers.sh(bad .. " " .. q(BIN) .. " start --dir " .. q(dir()) .. " 2>&1")
      assert.is_false(ok)
      assert.matches("ACR_TEST_PORT_BASE/ACR_TEST_PORT_COUNT must give a range", out)
    end
  end)

  it("works through a symlink and uses ${TMPDIR}/acr-emulator by default", function()
    local tmp = dir()
    assert(helpers.sh("ln -s " .. q(BIN) .. " " .. q(tmp .. "/emu")))
    local env = "TMPDIR=" .. q(tmp) .. " "
    local ok, out = helpers.sh(env .. q(tmp .. "/emu") .. " start 2>/dev/null")
    assert(ok, out)
    assert.is_string(helpers.read_file(tmp .. "/acr-emulator/nginx.pid"))
    assert.are.equal(200, (helpers.http("GET", out:match("^(%S+)") .. "/__admin/ping")))
    assert(helpers.sh(env .. q(tmp .. "/emu") .. " stop"))
    assert.is_nil(helpers.read_file(tmp .. "/acr-emulator/nginx.pid"))
  end)

  it("fails clearly on a busy port and on bad flags", function()
    local em = helpers.start_emulator {}
    finally(function() em:stop() end)
    local ok, out, code = helpers.sh(q(BIN) .. " start --dir " .. q(dir()) .. " --port " .. port_of(em.url))
    assert.is_false(ok)
    assert.are_not.equal(0, code)
    assert.matches("port " .. port_of(em.url) .. " is busy", out)
    for _, bad in ipairs {
      { "--lro-style sometimes", "lro%-style" }, { "--polls -1", "polls" }, { "--fail-rate 1.5", "fail%-rate" },
      { "--page-size 0", "page%-size" }, { "--port 70000", "port" }, { "--frobnicate", "unknown option" },
      { "--polls", "needs a value" },
    } do
      local ok2, err = helpers.sh(q(BIN) .. " start --dir " .. q(dir()) .. " " .. bad[1])
      assert.is_false(ok2, bad[1])
      assert.matches(bad[2], err)
    end
    local ok3, err3 = helpers.sh(q(BIN) .. " launch")
    assert.is_false(ok3)
    assert.matches("unknown command", err3)
    local ok4, help = helpers.sh(q(BIN) .. " --help")
    assert.is_true(ok4)
    assert.matches("emulator%-secret", help)
  end)

  it("stops by itself when the watched process exits", function()
    local d = dir()
    local ok, pid = helpers.sh("sleep 30 >/dev/null 2>&1 & echo $!")
    assert(ok, pid)
    pid = pid:match("%d+")
    local ok2, out = helpers.sh(q(BIN) .. " start --dir " .. q(d) .. " --watch-pid " .. pid)
    assert(ok2, out)
    local url = out:match("^(%S+)")
    assert.are.equal(200, (helpers.http("GET", url .. "/__admin/ping")))
    helpers.sh("kill " .. pid)
    local gone = false
    for _ = 1, 40 do
      if not helpers.http("GET", url .. "/__admin/ping", { timeout = 1 }) then
        gone = true
        break
      end
      helpers.sh("sleep 0.1")
    end
    assert.is_true(gone)
  end)
end)

describe("acr-emulator over TLS #emulator", function()
  local em, REG

  setup(function()
    em = helpers.start_emulator { tls = true, polls = 1, retry_after = 0,
      registries = { "sub-tls/rg-tls/tlsregistry" } }
    REG = em:registry_path("sub-tls", "rg-tls", "tlsregistry")
  end)

  lazy_teardown(function()
    if em then em:stop() end
  end)

  it("serves https with a CA it made (SAN 127.0.0.1 and localhost)", function()
    assert.matches("^https://127%.0%.0%.1:%d+$", em.url)
    assert.matches("BEGIN CERTIFICATE", helpers.read_file(em.ca_file))
    local s, err = helpers.http("GET", em.url .. "/__admin/ping")
    assert.is_nil(s)
    assert.matches("certificate", err)
    assert.are.equal(200, (helpers.http("GET", em.url .. "/__admin/ping", { ca_file = em.ca_file })))
    local local_url = em.url:gsub("127%.0%.0%.1", "localhost")
    assert.are.equal(200, (helpers.http("GET", local_url .. "/__admin/ping", { ca_file = em.ca_file })))
  end)

  it("walks PUT token -> poll -> GET -> generateCredentials -> DELETE -> poll", function()
    local map = REG .. "/scopeMaps/tls-map"
    local tok = REG .. "/tokens/tls-token"
    local s, h, _, j = em:arm("PUT", map, { body = { properties = { actions = { "repositories/tls/content/read" } } } })
    assert.are.equal(200, s)
    assert.is_nil(h["azure-asyncoperation"])

    s, h, _, j = em:arm("PUT", tok, { body = { properties = { scopeMapId = map, status = "enabled" } },
      headers = { ["x-ms-client-request-id"] = "walk-1" } })
    assert.are.equal(201, s)
    assert.are.equal("walk-1", h["x-ms-client-request-id"])
    assert.are.equal("Creating", j.properties.provisioningState)
    local aao = h["azure-asyncoperation"]
    assert.matches("^https://127%.0%.0%.1:%d+/subscriptions/sub%-tls/resourceGroups/rg%-tls/providers/Microsoft%.ContainerRegistry/registries/tlsregistry/tokens/tls%-token/operationStatuses/token%-", aao)
    assert.are.equal("0", h["retry-after"])

    s, h, _, j = em:arm("GET", aao)
    assert.are.equal(200, s)
    assert.are.equal("InProgress", j.status)
    assert.are.equal(aao, h["azure-asyncoperation"])
    s, h, _, j = em:arm("GET", aao)
    assert.are.same({ status = "Succeeded" }, j)
    assert.are.equal(aao, h["azure-asyncoperation"])
    assert.are.equal("0", h["retry-after"])

    s, _, _, j = em:arm("GET", tok)
    assert.are.equal(200, s)
    assert.are.equal("Succeeded", j.properties.provisioningState)
    assert.are.equal("Microsoft.ContainerRegistry/registries/tokens", j.type)

    s, h, _, j = em:arm("POST", REG .. "/generateCredentials", { body = { tokenId = tok } })
    assert.are.equal(200, s)
    assert.are.equal("tls-token", j.username)
    assert.are.equal(2, #j.passwords)
    assert.is_string(j.passwords[1].creationTime)

    s, h, j = em:arm("DELETE", tok)
    assert.are.equal(202, s)
    assert.are.equal("", j)
    local loc = h["location"]
    assert.matches("^https://127%.0%.0%.1:%d+/subscriptions/sub%-tls/providers/Microsoft%.ContainerRegistry/locations/EASTUS/operationResults/token%-", loc)
    s, h = em:arm("GET", loc)
    assert.are.equal(202, s)
    assert.are.equal(loc, h["location"])
    s, h, j = em:arm("GET", loc)
    assert.are.equal(200, s)
    assert.are.equal("", j)
    assert.are.equal("0", h["content-length"])
    assert.are.equal(404, (em:arm("GET", tok)))
  end)
end)
