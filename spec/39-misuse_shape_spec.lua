-- Misuse has one shape everywhere, as lauxlib's luaL_argerror gives it:
--   bad argument #N to 'fn' (message)
-- with fn the public name (never '?', also under pcall and through client:prepare), N
-- counting self, and an option of a table argument named as (option 'key' …). One
-- representative misuse of every public entry point of the module and of acr.batch;
-- acr.resty's are in spec/70-resty_http_spec.lua (they need nginx).
local ch = require "client_helpers"
local acr = require "acr"
local batch = require "acr.batch"
local cjson = require "cjson"
local unpack = table.unpack or unpack

local base = ch.options
local SHAPE = "^bad argument #(%d+) to '([%w_.:]+)' %((.+)%)$"
local TENANT = "00000000-0000-0000-0000-0000000000e1"

-- The message of f(...)'s error, without the position Lua puts in front of it.
local function message(f, ...)
  local ok, err = pcall(f, ...)
  assert.is_false(ok, "no error")
  return (tostring(err):gsub("^[^\n]-:%d+: ", ""))
end

-- f(...) raises bad argument #n to 'fname' (…) whose message has the words says.
local function misuse(n, fname, says, f, ...)
  local msg = message(f, ...)
  local an, afn, text = msg:match(SHAPE)
  assert.is_truthy(an, "not the one shape: " .. msg)
  assert.are.equal(fname, afn, msg)
  assert.are.equal(n, tonumber(an), msg)
  assert.is_truthy(text:find(says, 1, true), "'" .. says .. "' not in: " .. msg)
end

describe("misuse has one shape #unit", function()
  local c = acr.client(base())

  local function token()
    local op = c:prepare("get_token", "abcde")
    op:feed(200, { ["content-type"] = "application/json" }, cjson.encode{
      id = c:registry_id() .. "/tokens/abcde", name = "abcde",
      properties = { status = "enabled", scopeMapId = c:registry_id() .. "/scopeMaps/smapx" } })
    return assert(op:result())
  end
  local function scope_map()
    local op = c:prepare("get_scope_map", "smapx")
    op:feed(200, { ["content-type"] = "application/json" }, cjson.encode{
      id = c:registry_id() .. "/scopeMaps/smapx", name = "smapx", properties = { actions = { "a" } } })
    return assert(op:result())
  end

  it("acr.client and its options", function()
    misuse(1, "acr.client", "table expected, got string", acr.client, "x")
    misuse(1, "acr.client", "unknown option 'regsitry'", acr.client, base{ regsitry = "x" })
    misuse(1, "acr.client", "option 'registry' must be a string, got number", acr.client, base{ registry = 5 })
    misuse(1, "acr.client", "option 'registry' must be 5 to 50", acr.client, base{ registry = "a-b" })
    misuse(1, "acr.client", "option 'subscription_id' is required", acr.client, base{ subscription_id = false })
    misuse(1, "acr.client", "option 'timeout' must be a number, got string", acr.client, base{ timeout = "5" })
    misuse(1, "acr.client", "option 'retry.max_delay' must be a finite number", acr.client,
           base{ retry = { max_delay = 0 / 0 } })
    misuse(1, "acr.client", "unknown option 'retry.tries'", acr.client, base{ retry = { tries = 1 } })
    misuse(1, "acr.client", "option 'max_connections' must be a whole number from 1 to 1024", acr.client,
           base{ max_connections = 0 })
    misuse(1, "acr.client", "option 'credential' must be an acr.Credential", acr.client, base{ credential = "t" })
    misuse(1, "acr.client", "option 'logger' must be a function", acr.client, base{ logger = 1 })
  end)

  it("each credential constructor and its options", function()
    local cred = acr.credential
    misuse(1, "acr.credential.static", "string expected, got no value", cred.static)
    misuse(1, "acr.credential.static", "token must be one line", cred.static, "a\nb")
    misuse(1, "acr.credential.client_secret", "table expected, got no value", cred.client_secret)
    misuse(1, "acr.credential.client_secret", "option 'client_secret' is required", cred.client_secret,
           { tenant_id = TENANT, client_id = "c" })
    misuse(1, "acr.credential.client_secret", "option 'tenant_id' is not a tenant id", cred.client_secret,
           { tenant_id = "a/b", client_id = "c", client_secret = "s" })
    misuse(1, "acr.credential.client_certificate", "option 'certificate_path' is required",
           cred.client_certificate, { tenant_id = TENANT, client_id = "c" })
    misuse(1, "acr.credential.client_certificate", "option 'send_certificate_chain' must be a boolean",
           cred.client_certificate, { tenant_id = TENANT, client_id = "c", certificate_path = "/x",
                                      send_certificate_chain = "yes" })
    misuse(1, "acr.credential.workload_identity", "unknown option 'colour'", cred.workload_identity,
           { colour = 1 })
    misuse(1, "acr.credential.workload_identity", "option 'token_file' must be a string, got number",
           cred.workload_identity, { token_file = 1 })
    misuse(1, "acr.credential.managed_identity", "option 'object_id' may not be given with option 'client_id'",
           cred.managed_identity, { client_id = "a", object_id = "b" })
    misuse(1, "acr.credential.managed_identity", "table expected, got string", cred.managed_identity, "id")
    misuse(1, "acr.credential.azure_cli", "option 'timeout' must be > 0", cred.azure_cli, { timeout = 0 })
    misuse(1, "acr.credential.azure_cli", "option 'az' must not be empty", cred.azure_cli, { az = "" })
    misuse(1, "acr.credential.default", "option 'exclude_azure_cli' must be a boolean", cred.default,
           { exclude_azure_cli = "yes" })
    local s = cred.static("t")
    misuse(1, "kind", "acr.Credential expected, got string", s.kind, "x")
    misuse(1, "expires_in", "acr.Credential expected", s.expires_in, {})
    misuse(1, "may_block", "acr.Credential expected", s.may_block)
    misuse(1, "close", "acr.Credential expected", s.close, c)
  end)

  it("the module's functions", function()
    misuse(1, "acr.error", "string expected, got table", acr.error, {})
    misuse(3, "acr.error", "integer expected", acr.error, "Code", "m", 4.5)
    misuse(1, "acr.drive", "list of acr.Client expected, got acr.Client", acr.drive, c)
    misuse(1, "acr.drive", "item 1 is a number, not an acr.Client", acr.drive, { 5 })
    misuse(2, "acr.drive", "number of seconds expected, got string", acr.drive, { c }, "x")
  end)

  it("each of the 11 operations, its begin_* twin and client:prepare of it", function()
    local calls = {
      { "get_scope_map", 2, "scope map name 'a.b'", "a.b" },
      { "create_scope_map", 3, "field 'actions' must be a non-empty list", "abcde", {} },
      { "update_scope_map", 3, "table expected, got number", "abcde", 5 },
      { "delete_scope_map", 2, "must be 5 to 50 characters", "ab" },
      { "get_token", 2, "string expected, got nil" },
      { "create_token", 3, "field 'scope_map' is required", "abcde", {} },
      { "update_token", 3, "field 'status' must be 'enabled' or 'disabled'", "abcde", { status = "on" } },
      { "delete_token", 2, "token name 'a_bcd' may contain only", "a_bcd" },
      { "enable_token", 2, "string must not contain a NUL byte", "abc\0de" },
      { "disable_token", 2, "string expected, got table", {} },
      { "generate_credentials", 2, "field 'token' is required", {} },
    }
    for _, t in ipairs(calls) do
      local name, n, says = t[1], t[2], t[3]
      misuse(n, name, says, c[name], c, select(4, unpack(t, 1, 5)))
      if name:match("^get_") == nil then
        misuse(n, "begin_" .. name, says, c["begin_" .. name], c, select(4, unpack(t, 1, 5)))
      end
      -- through prepare, the operation's own name and positions
      misuse(n, name, says, c.prepare, c, name, select(4, unpack(t, 1, 5)))
      -- a bad self names the method too
      misuse(1, name, "acr.Client expected, got string", c[name], "client", "abcde", {})
    end
    -- called as methods, as a caller writes them: N still counts self
    misuse(2, "get_token", "token name 'a_b'", function() return c:get_token("a_b") end)
    misuse(3, "create_scope_map", "field 'colour' is not known",
           function() return c:create_scope_map("abcde", { actions = { "a" }, colour = 1 }) end)
  end)

  it("client:request, begin_request, pages, prepare and the other client methods", function()
    misuse(2, "request", "an HTTP method expected", c.request, c, "fetch", "/x")
    misuse(3, "request", "a path starting with '/' expected", c.request, c, "GET", "x")
    misuse(4, "request", "unknown option 'bdy'", c.request, c, "GET", "/x", { bdy = 1 })
    misuse(4, "request", "option 'lro' must be a boolean, got string", c.request, c, "GET", "/x", { lro = "y" })
    misuse(4, "begin_request", "option 'headers' may not set Host", c.begin_request, c, "GET", "/x",
           { headers = { Host = "h" } })
    misuse(4, "request", "option 'final_state_via' must be azure-async-operation", c.prepare, c, "request",
           "GET", "/x", { final_state_via = "body" })
    misuse(2, "pages", "string expected, got nil", c.pages, c)
    misuse(3, "pages", "option 'items' must be a string, got number", c.pages, c, "/x", { items = 1 })
    misuse(3, "pages", "option 'api_version' may contain only", c.pages, c, "/x", { api_version = "a b" })
    misuse(2, "prepare", "no operation named 'nope'", c.prepare, c, "nope")
    misuse(1, "prepare", "acr.Client expected, got no value", c.prepare)
    misuse(2, "drive", "number of seconds expected, got string", c.drive, c, "x")
    for _, m in ipairs { "scope_maps", "tokens", "connections", "endpoint", "registry_id", "close" } do
      misuse(1, m, "acr.Client expected, got number", c[m], 5)
    end
    local closed = acr.client(base())
    closed:close()
    misuse(1, "get_token", "the client is closed", closed.get_token, closed, "abcde")
  end)

  it("the methods of operations and pagers", function()
    local op = c:prepare("get_token", "abcde")
    for _, m in ipairs { "next_request", "delay", "done", "client", "status", "request_id", "result",
                         "poll" } do
      misuse(1, m, "acr.Operation expected, got acr.Client", op[m], c)
    end
    misuse(2, "feed", "integer expected, got string", op.feed, op, "x")
    misuse(3, "feed", "table expected, got string", op.feed, op, 200, "h")
    misuse(2, "wait", "number of seconds expected, got string", op.wait, op, "x")
    misuse(2, "wait_accepted", "a number of seconds expected", op.wait_accepted, op, 0 / 0)
    local p = c:tokens()
    misuse(1, "next_page", "acr.Pager expected, got acr.Operation", p.next_page, op)
    misuse(1, "next_operation", "acr.Pager expected", p.next_operation)
    misuse(2, "take", "acr.Operation expected, got string", p.take, p, "op")
    misuse(2, "take", "not the operation this pager's last next_operation() returned", p.take, p, op)
    local done = c:prepare("get_token", "abcde")
    done:feed(404, {}, "")
    misuse(1, "feed", "the acr.Operation is done", done.feed, done, 200, {}, "")
  end)

  it("the methods of tokens and scope maps", function()
    local tok, sm = token(), scope_map()
    misuse(2, "update", "table expected, got string", tok.update, tok, "enabled")
    misuse(2, "begin_update", "field 'actions' must hold only non-empty strings", sm.begin_update, sm,
           { actions = { 1 } })
    misuse(2, "generate_credentials", "field 'name' must be 'password1' or 'password2'",
           tok.generate_credentials, tok, { name = "pw3" })
    misuse(2, "begin_generate_credentials", "field 'bogus' is not known", tok.begin_generate_credentials,
           tok, { bogus = 1 })
    for _, m in ipairs { "refresh", "delete", "begin_delete", "to_table" } do
      misuse(1, m, "acr.ScopeMap or acr.Token expected, got string", sm[m], "x")
    end
    for _, m in ipairs { "enable", "disable", "begin_enable", "begin_disable", "scope_map" } do
      misuse(1, m, "acr.Token expected, got acr.ScopeMap", tok[m], sm)
    end
  end)

  it("acr.batch: new, run and a batch's methods", function()
    misuse(1, "acr.batch.new", "list of operations or functions expected, got string", batch.new, "jobs")
    misuse(1, "acr.batch.new", "item 2 is a number", batch.new, { function() end, 42 })
    misuse(2, "acr.batch.new", "unknown option 'widht'", batch.new, {}, { widht = 3 })
    misuse(2, "acr.batch.new", "option 'width' must be a whole number", batch.new, {}, { width = 1.5 })
    misuse(2, "acr.batch.run", "option 'width' must be a number, got string", batch.run, {}, { width = "2" })
    misuse(2, "acr.batch.run", "option 'on_done' must be a function", batch.run, {}, { on_done = 1 })
    local b = batch.new({})
    misuse(2, "add", "acr.Operation or function expected, got nil", b.add, b)
    misuse(1, "add", "acr.Batch expected, got table", b.add, {}, function() end)
    for _, m in ipairs { "results", "run", "progress" } do
      misuse(1, m, "acr.Batch expected, got nil", b[m])
    end
  end)
end)
