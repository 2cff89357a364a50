-- TLS verification is on by default; a private CA comes from ca_file.
local ch = require "client_helpers"
local helpers = ch.helpers

describe("TLS #emulator #tls", function()
  local em
  setup(function() em = helpers.start_emulator{ tls = true, retry_after = 0, polls = 0 } end)
  teardown(function() if em then em:stop() end end)

  it("serves https and a CA file", function()
    assert.matches("^https://127%.0%.0%.1:%d+$", em.url)
    assert.is_string(helpers.read_file(em.ca_file))
  end)

  it("refuses the emulator's certificate without its CA", function()
    local c = ch.client(em, { ca_file = false, retry = 0 })
    local tok, err = c:get_token("abcde")
    assert.is_nil(tok)
    assert.are.equal("TlsError", err.code)
    assert.are.equal(0, #em:log())
  end)

  it("works with ca_file, over one TLS connection", function()
    em:reset()
    local c = ch.client(em)
    local sm = assert(c:create_scope_map(ch.unique("tls"), { actions = { "repositories/a/content/read" } }))
    local tok = assert(c:create_token(ch.unique("tls"), { scope_map = sm }))
    assert(tok:delete()); assert(sm:delete())
    assert.are.equal(1, em:stats().connections)
  end)
end)
