-- What the server sends back is data, never trusted: names and ids from an answer are
-- checked against the API's rules before they become part of a URL, objects built from
-- odd documents never raise, and a list page whose items are not objects fails.
local acr = require "acr"
local cjson = require "cjson"

local REG = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myRegistry"

local function client()
  return acr.client{
    subscription_id = "s", resource_group = "rg", registry = "myRegistry",
    credential = acr.credential.static("t"), api_version = "2019-05-01-preview",
  }
end

-- A Token / ScopeMap built from doc, as the service's answer to a GET (no server).
local function object(c, kind, doc)
  local op = c:prepare("get_" .. kind, "abcde")
  op:feed(200, { ["content-type"] = "application/json" }, cjson.encode(doc))
  return assert(op:result())
end

local function token_doc(name, extra)
  local d = { id = REG .. "/tokens/" .. tostring(name), name = name,
              type = "Microsoft.ContainerRegistry/registries/tokens",
              properties = { status = "enabled", scopeMapId = REG .. "/scopeMaps/mymap" } }
  for k, v in pairs(extra or {}) do d.properties[k] = v end
  return d
end

local function sm_doc(name)
  return { id = REG .. "/scopeMaps/" .. tostring(name), name = name,
           properties = { actions = { "repositories/a/content/read" } } }
end

local function refused(r, err, field)
  field = field or ""
  assert.is_nil(r)
  assert.is_true(acr.is_error(err), tostring(err))
  assert.are.equal("InvalidResponse", err.code)
  assert.matches(field, err.message, 1, true)
end

local BAD_NAMES = {
  "../../../../../../victim-sub/x", "abc", ("a"):rep(51), "has space", "a/b/c/d", "tok?x=1",
  "tok%2Fx", "tok#frag", "..", "token\nname", 12345, true, { "x" }, { a = 1 },
}

describe("names and ids from the server's answers #replay", function()
  local c = client()

  for i, bad in ipairs(BAD_NAMES) do
    it("refuses methods of a Token/ScopeMap whose name is " .. i .. " (" .. type(bad) .. ")", function()
      local tok = object(c, "token", token_doc(bad))
      for _, m in ipairs{ "begin_delete", "begin_update", "begin_enable", "begin_disable" } do
        refused(tok[m](tok, m == "begin_update" and { status = "disabled" } or nil))
      end
      refused(tok:delete()) ; refused(tok:refresh()) ; refused(tok:disable())
      refused(tok:update{ status = "disabled" })
      local sm = object(c, "scope_map", sm_doc(bad))
      refused(sm:begin_delete()); refused(sm:delete()); refused(sm:refresh())
      refused(sm:update{ description = "d" })
      assert.is_string(tostring(tok)); assert.is_string(tostring(sm))
    end)
  end

  it("takes a valid name as it is", function()
    local tok = object(c, "token", token_doc("my-token-1"))
    local op = assert(tok:begin_delete())
    assert.are.equal("https://management.azure.com" .. REG .. "/tokens/my-token-1?api-version=2019-05-01-preview",
      op:next_request().url)
    local sm = object(c, "scope_map", sm_doc("my_map-1"))
    assert.matches("/scopeMaps/my_map%-1%?", assert(sm:begin_update{ description = "d" }):next_request().url)
    -- '_' is a scope map character, not a token one
    refused(object(c, "token", token_doc("my_token")):begin_delete())
  end)

  it("refuses tok:scope_map() unless scope_map_id is a scope map of this very registry", function()
    local bad = {
      REG .. "/scopeMaps/../../../../victim",                             -- traversal
      "/subscriptions/other/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/myRegistry/scopeMaps/mymap",
      REG .. "/tokens/mymap",                                             -- wrong collection
      REG .. "/scopeMaps/mymap/extra",
      REG .. "/scopeMaps/ab",                                             -- too short
      REG .. "/scopeMaps/my map",
      "mymap", "/x/scopeMaps/mymap", 42, true, { REG .. "/scopeMaps/mymap" },
    }
    for _, id in ipairs(bad) do
      local tok = object(c, "token", token_doc("my-token", { scopeMapId = id }))
      refused(tok:scope_map()) -- nothing may be sent: there is no server to send it to
      local _, err = tok:scope_map()
      assert.matches("scope_map_id", err.message, 1, true)
    end
    local tok = object(c, "token", token_doc("my-token", { scopeMapId = cjson.null }))
    local _, err = tok:scope_map()
    assert.are.equal("NoScopeMap", err.code)
  end)

  it("refuses generate_credentials for a Token whose id is not of this registry", function()
    for _, id in ipairs{ "/subscriptions/other/x/tokens/my-token", REG .. "/tokens/../x", 7 } do
      local d = token_doc("my-token"); d.id = id
      local tok = object(c, "token", d)
      refused(tok:begin_generate_credentials{ name = "password1" })
    end
    local ok = object(c, "token", token_doc("my-token"))
    assert(ok:begin_generate_credentials{ name = "password1" })
    -- case-insensitively, as ARM ids compare
    local d = token_doc("my-token"); d.id = d.id:upper():gsub("/TOKENS/MY%-TOKEN$", "/tokens/my-token")
    assert(object(c, "token", d):begin_generate_credentials{ name = "password1" })
  end)
end)

describe("objects built from odd server data never raise #replay", function()
  local c = client()
  local ODD = { 1, 1.5, true, false, { 1 }, { a = { b = 1 } }, cjson.null, "", ("x"):rep(300) }

  it("tostring, fields and to_table of Tokens and ScopeMaps", function()
    local cases = 0
    for _, v in ipairs(ODD) do
      for _, where in ipairs{ "name", "status", "properties", "actions", "id", "credentials" } do
        local t = token_doc("my-token")
        local s = sm_doc("my-map")
        if where == "name" or where == "id" then t[where] = v; s[where] = v
        elseif where == "properties" then t.properties = v; s.properties = v
        elseif where == "actions" then s.properties.actions = v; t.properties.scopeMapId = v
        else t.properties[where] = v end
        for _, o in ipairs{ object(c, "token", t), object(c, "scope_map", s) } do
          assert.is_string(tostring(o))
          for _, f in ipairs{ "id", "name", "type", "status", "scope_map_id", "object_id",
                              "creation_date", "provisioning_state", "credentials", "actions",
                              "description", "scope_map_type", "nope" } do
            local _ = o[f]
          end
          assert.is_table(o:to_table())
          local _ = (o == o)
          cases = cases + 1
        end
      end
    end
    assert.is_true(cases > 100)
  end)

  it("tostring of generated credentials with an odd username or passwords", function()
    for _, v in ipairs(ODD) do
      for _, where in ipairs{ "username", "passwords" } do
        local doc = { username = "my-token", passwords = { { name = "password1", value = "s3cret" } } }
        doc[where] = v
        local op = c:prepare("generate_credentials", { token = "my-token" })
        op:feed(200, { ["content-type"] = "application/json" }, cjson.encode(doc))
        local creds = assert(op:result())
        local s = tostring(creds)
        assert.is_string(s)
        assert.is_nil(s:find("s3cret", 1, true))
        if where == "username" and type(v) ~= "string" then assert.matches("%(%?,", s) end
      end
    end
  end)
end)

describe("list pages whose items are not objects #replay", function()
  local c = client()
  local function page(kind, value)
    local pager = kind == "token" and c:tokens() or c:scope_maps()
    local op = pager:next_operation()
    op:feed(200, { ["content-type"] = "application/json" }, cjson.encode{ value = value })
    return pager, pager:take(op)
  end

  for _, odd in ipairs{ cjson.null, 1, "a-token", true, { 1, 2 } } do
    it("fails the page with InvalidResponse naming the index (" .. tostring(odd) .. ")", function()
      for _, kind in ipairs{ "token", "scope_map" } do
        local doc = kind == "token" and token_doc("my-token") or sm_doc("my-map")
        local _, items, err = page(kind, { doc, odd, doc })
        assert.is_nil(items)
        assert.are.equal("InvalidResponse", err.code)
        assert.matches("item 2 ", err.message, 1, true)
      end
    end)
  end

  for _, odd in ipairs{ { a = 1 }, { [1] = { name = "x" }, next = 2 }, "x", 3 } do
    it("fails a page whose value is not an array (" .. type(odd) .. ")", function()
      local _, items, err = page("token", odd)
      assert.is_nil(items)
      assert.are.equal("InvalidResponse", err.code)
    end)
  end

  it("hands out a well-formed page", function()
    local _, items = page("token", { token_doc("my-token"), token_doc("my-token-2") })
    assert.are.equal(2, #items)
    assert.are.equal("my-token-2", items[2].name)
  end)
end)

describe("server data on the wire #emulator", function()
  local ch = require "client_helpers"
  local helpers = ch.helpers
  local em, cl
  setup(function()
    em = helpers.start_emulator{ retry_after = 0, polls = 0, page_size = 5 }
    cl = ch.client(em)
  end)
  teardown(function()
    if cl then cl:close() end
    if em then em:stop() end
  end)

  local function deletes()
    local n = 0
    for k, v in pairs(em:stats().requests or {}) do
      if k:match("^DELETE") then n = n + v end
    end
    return n
  end

  local function list_body(item)
    return cjson.encode{ value = { item } }
  end

  it("a token named ../../victim-sub/… is never deleted anywhere", function()
    em:reset()
    local reg = em:registry_path()
    local name = "../../../../../../victim-sub/x"
    assert(em:admin("POST", "inject", { path = "/tokens", method = "GET", status = 200,
      headers = { ["Content-Type"] = "application/json" },
      body = list_body{ id = reg .. "/tokens/" .. name, name = name,
                        properties = { status = "enabled", scopeMapId = "/subscriptions/victim-sub/x" } } }))
    local seen = 0
    for tok in cl:tokens() do
      seen = seen + 1
      assert.is_string(tostring(tok))
      refused(tok:delete())
      refused(tok:disable())
      refused(tok:scope_map())
    end
    assert.are.equal(1, seen)
    assert.are.equal(0, deletes())
    assert.are.equal(0, ch.count_requests(em, "PATCH token"))
  end)

  it("a list item that is not an object fails the iteration, items handed out once", function()
    em:reset()
    local reg = em:registry_path()
    local good = { id = reg .. "/tokens/good-token", name = "good-token", properties = { status = "enabled" } }
    assert(em:admin("POST", "inject", { path = "/tokens", method = "GET", status = 200,
      body = cjson.encode{ value = { good, cjson.null } } }))
    local pager = cl:tokens()
    local ok, err = pcall(function() for _ in pager do end end)
    assert.is_false(ok)
    assert.are.equal("InvalidResponse", err.code)
    assert.is_nil(pager())  -- the pager is done
  end)
end)
