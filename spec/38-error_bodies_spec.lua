-- An error body that is not ARM's {"error":{"code","message"}} still gives the service's
-- words as err.message: {"message": …}, {"error": "…"}, plain text, an HTML page; bounded
-- and with control bytes and terminal escapes taken out (issue 11, item 10).
local ch = require "client_helpers"
local helpers = ch.helpers

describe("error bodies of other shapes #emulator", function()
  local em, client
  local function inject(t) return assert(em:admin("POST", "inject", t)) end

  setup(function()
    em = helpers.start_emulator{ retry_after = 0 }
    client = ch.client(em, { retry = 0 })
  end)
  teardown(function()
    if client then client:close() end
    if em then em:stop() end
  end)
  before_each(function() em:reset() end)

  -- err of get_token after the next GET of a token is answered status/body
  local function answer(status, body, headers)
    inject{ path = "/tokens/", method = "GET", status = status, body = body, headers = headers }
    local tok, err = client:get_token("tok-any")
    assert.is_nil(tok)
    assert.are.equal(status, err.status)
    return err
  end

  it("takes {\"message\": …} and {\"Message\": …}", function()
    local err = answer(400, '{"message": "Error from the server"}')
    assert.are.equal("BadRequest", err.code)
    assert.are.equal("Error from the server", err.message)
    assert.matches("BadRequest: Error from the server %(HTTP 400", tostring(err))
    err = answer(500, '{"Message": "An error has occurred."}')
    assert.are.equal("InternalServerError", err.code)
    assert.are.equal("An error has occurred.", err.message)
  end)

  it("takes {\"code\", \"message\"} at the top level", function()
    local err = answer(403, '{"code": "RequestDisallowedByPolicy", "message": "policy says no"}')
    assert.are.equal("RequestDisallowedByPolicy", err.code)
    assert.are.equal("policy says no", err.message)
  end)

  it("takes {\"error\": \"text\"} as the message, and a code-like one as the code", function()
    local err = answer(409, '{"error": "the registry is being moved"}')
    assert.are.equal("Conflict", err.code)
    assert.are.equal("the registry is being moved", err.message)
    err = answer(400, '{"error": "invalid_request"}')
    assert.are.equal("invalid_request", err.code)
    assert.are.equal("invalid_request", err.message)
  end)

  it("takes plain text and the words of an HTML page", function()
    local err = answer(400, "Bad request: the header is too long\n",
                       { ["Content-Type"] = "text/plain", ["x-ms-request-id"] = "txt-1" })
    assert.are.equal("BadRequest", err.code)
    assert.are.equal("Bad request: the header is too long", err.message)
    assert.are.equal("txt-1", err.request_id)
    err = answer(502, "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                      .. "<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
                      .. "</body>\r\n</html>\r\n", { ["Content-Type"] = "text/html" })
    assert.are.equal("BadGateway", err.code)
    assert.are.equal("502 Bad Gateway 502 Bad Gateway nginx", err.message)
  end)

  it("bounds a huge body at 512 bytes, cut between characters", function()
    local err = answer(500, ("\195\169rreur "):rep(20000))
    assert.is_true(#err.message <= 512, tostring(#err.message))
    assert.is_true(#err.message > 400, tostring(#err.message))
    assert.matches("^\195\169rreur \195\169rreur ", err.message)
    assert.matches("%.%.%.$", err.message)
    local body = err.message:sub(1, -4)
    assert.matches("^[\195\169rreu ]+$", body)
    assert.is_nil(body:find("\195$"))    -- no half of a character before the "..."
  end)

  it("takes out control bytes and terminal escapes", function()
    local err = answer(400, "denied\27[2J\27[31m\r\nX-Injected: yes\7\0 \27]0;owned\7done\127")
    assert.are.equal("denied X-Injected: yes done", err.message)
    assert.is_nil(err.message:find("[%c\127]"))
    err = answer(400, '{"message": "two\\nlines\\u001b[1mbold"}')
    assert.are.equal("two lines bold", err.message)
  end)

  it("keeps ARM's shape as it was, and says the status of an empty body", function()
    local err = answer(400, '{"error":{"code":"TokenNameInvalid","message":"The name is bad.","target":"name"}}')
    assert.are.equal("TokenNameInvalid", err.code)
    assert.are.equal("The name is bad.", err.message)
    assert.are.equal("name", err.target)
    err = answer(404, "")
    assert.are.equal("ResourceNotFound", err.code)
    assert.are.equal("the service answered HTTP 404", err.message)
    err = answer(400, "  \r\n\t ")
    assert.are.equal("the service answered HTTP 400", err.message)
  end)

  it("makes ARM's own code and message safe to print, keeping a long message whole", function()
    local cjson = require "cjson"
    local err = answer(400, cjson.encode{ error = { code = "Invalid\27[2JName",
      message = "name '\27]0;owned\7x\27[31m' is invalid\r\nX-Injected: yes", target = "name" } })
    assert.are.equal("Invalid Name", err.code)
    assert.are.equal("name ' x ' is invalid X-Injected: yes", err.message)
    local parts = {}
    for i = 1, 100 do parts[i] = ("field f%d is invalid."):format(i) end
    local long = table.concat(parts, " ")
    err = answer(400, cjson.encode{ error = { code = "InvalidParameters", message = long } })
    assert.are.equal(long, err.message)
    assert.is_true(#err.message > 512)
  end)

  it("applies to client:request's errors too", function()
    inject{ path = "/scopeMaps/", method = "DELETE", status = 423, body = "Locked by \27[1madmin\27[0m" }
    local res, err = client:request("DELETE", em:registry_path() .. "/scopeMaps/some-map", { lro = true })
    assert.is_nil(res)
    assert.are.equal(423, err.status)
    assert.are.equal("HttpError", err.code)
    assert.are.equal("Locked by admin", err.message)
  end)
end)
