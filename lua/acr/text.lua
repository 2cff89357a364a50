-- acr.text — text from outside (a server's answer, a program's stderr, a file) made fit
-- for one line of a terminal or a log: no control character passes (C0, DEL, C1), so
-- none can move the cursor, clear the screen or forge a line.
local _M = { _VERSION = "0.1.0" }

-- syntax: s = text.printable(v, with?)  -- tostring(v), each control character replaced
-- by `with` (a plain string; default "?")
function _M.printable(v, with)
  with = (with or "?"):gsub("%%", "%%%%")
  return (tostring(v):gsub("[%c\127]", with):gsub("\194[\128-\159]", with))
end

return _M
