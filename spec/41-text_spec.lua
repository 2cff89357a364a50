-- acr.text: the one rule by which text from outside is made fit for a terminal line
-- (the CLI's messages, a sink program's stderr excerpt, a plan's diff).
local text = require "acr.text"

describe("acr.text #unit", function()
  it("replaces every control character, C0, DEL and C1, and keeps the rest", function()
    assert.are.equal("a?b?c?d?e", text.printable("a\27b\127c\0d\n" .. "e"))
    assert.are.equal("x?y", text.printable("x\194\155y"))        -- CSI as UTF-8 C1
    assert.are.equal("é ✓ ¿", text.printable("é ✓ ¿"))           -- UTF-8 beyond C1 stays
    assert.are.equal("a b", text.printable("a\tb", " "))
    assert.are.equal("a%b", text.printable("a\rb", "%"))           -- a plain replacement
    assert.are.equal("12", text.printable(12))
  end)
end)
