-- acr.desired.sink (dir, exec, func), acr.desired.ledger, and the acr._sys calls
-- under them: files of mode 0600 in directories of 0700, replaced atomically; a real
-- program given the JSON on stdin; errors that never hold the password.
package.path = debug.getinfo(1, "S").source:sub(2):match("^(.*)/[^/]*$") .. "/?.lua;" .. package.path
local helpers = require "helpers"
local q = helpers.quote
local sink = require "acr.desired.sink"
local ledger = require "acr.desired.ledger"
local sys = require("acr")._sys

-- A password as ARM's look (base64: '/' and '+'), with a '"' so that its JSON form
-- differs from it.
local PASSWORD = "Zm9vYmFy/c2VjcmV0+cGFzc3dvcmQ\"x9Qk1wT2xLa0hHZkRzQQ=="

local function secret(over)
  local s = {
    action = "deliver", subscription = "11111111-1111-1111-1111-111111111111",
    resource_group = "rg-prod", registry = "ProdRegistry", login_server = "prodregistry.azurecr.io",
    token = "App-CI", username = "App-CI", password = PASSWORD, slot = "password1",
    creation_time = "2030-01-01T00:00:00.0000000+00:00", expiry = "2030-04-01T00:00:00Z",
  }
  for k, v in pairs(over or {}) do s[k] = v end
  return s
end

local function ref_of(s)
  local r = {}
  for k, v in pairs(s) do r[k] = v end
  r.password, r.action = nil, "withdraw"
  return r
end

local function stat(fmt, path)
  local ok, out = helpers.sh("stat -c " .. fmt .. " " .. q(path))
  return ok and (out:gsub("%s+$", "")) or nil
end

local function no_secret(err)
  assert.is_string(err)
  assert.is_nil(err:find(PASSWORD, 1, true), err)
  assert.is_nil(err:find(PASSWORD:sub(1, 16), 1, true), err)
  assert.is_nil(err:find("\n", 1, true), err)
end

-- What another run of this flavour says: code run in a fresh interpreter, with the
-- module's Lua parts on its path; its stdout and stderr.
local LUA_PATH = helpers.root .. "/lua/?.lua;" .. helpers.root .. "/lua/?/init.lua;;"
local function other_run(code)
  local _, out = helpers.run_lua({ LUA_PATH = LUA_PATH }, code)
  return out
end

-- What another run gets from ledger.open(path): "opened", or "refused: " and err.
local function other_open(path)
  return other_run(([[
local l, err = require("acr.desired.ledger").open(%q)
io.write(l and "opened" or ("refused: " .. tostring(err)))]]):format(path))
end

-- A program of the spec's own: #!/bin/sh and body, executable.
local function script(dir, name, body)
  local path = dir .. "/" .. name
  helpers.write_file(path, "#!/bin/sh\n" .. body .. "\n")
  assert(helpers.sh("chmod 700 " .. q(path)))
  return path
end

describe("acr.desired sinks and ledger", function()
  local dir

  before_each(function() dir = helpers.tmpdir("acr-sinks") end)
  after_each(function() helpers.rmdir(dir) end)

  describe("dir sink", function()
    it("writes one file per token and slot, 0600 in directories of 0700", function()
      local s = assert(sink.dir(dir .. "/secrets"))
      assert.are.equal("dir", s.kind)
      assert.is_true(s:deliver(secret()))
      local file = dir .. "/secrets/prodregistry/app-ci.password1.json"
      assert.are.equal("600", stat("%a", file))
      assert.are.equal("700", stat("%a", dir .. "/secrets"))
      assert.are.equal("700", stat("%a", dir .. "/secrets/prodregistry"))
      local t = helpers.json_decode(helpers.read_file(file))
      assert.are.same({
        subscription = "11111111-1111-1111-1111-111111111111", resource_group = "rg-prod",
        registry = "ProdRegistry", login_server = "prodregistry.azurecr.io", token = "App-CI",
        username = "App-CI", password = PASSWORD, slot = "password1",
        creation_time = "2030-01-01T00:00:00.0000000+00:00", expiry = "2030-04-01T00:00:00Z",
      }, t)
      -- no expiry: null, so that a reader sees the password never expires
      local x = secret { slot = "password2" }
      x.expiry = nil
      assert.is_true(s:deliver(x))
      local text = helpers.read_file(dir .. "/secrets/prodregistry/app-ci.password2.json")
      assert.is_truthy(text:find('"expiry": null', 1, true))
    end)

    it("replaces a file atomically, leaving no temporary file", function()
      local s = assert(sink.dir(dir))
      local file = dir .. "/prodregistry/app-ci.password1.json"
      assert.is_true(s:deliver(secret()))
      assert(helpers.sh("chmod 644 " .. q(file)))
      local inode = stat("%i", file)
      assert.is_true(s:deliver(secret { password = "second-password-value-0123456789" }))
      assert.are_not.equal(inode, stat("%i", file))
      assert.are.equal("600", stat("%a", file))
      assert.are.equal("second-password-value-0123456789",
        helpers.json_decode(helpers.read_file(file)).password)
      local _, names = helpers.sh("ls -A " .. q(dir .. "/prodregistry"))
      assert.are.equal("app-ci.password1.json\n", names)
    end)

    it("never lets a reader see part of a file", function()
      -- A reader copies the file over and over while it is rewritten with one of two
      -- contents; a copy that is neither is a torn write.
      local s = assert(sink.dir(dir .. "/s"))
      local file = dir .. "/s/prodregistry/app-ci.password1.json"
      local a, b = ("a"):rep(100000), ("b"):rep(120000)
      assert.is_true(s:deliver(secret { password = a }))
      helpers.write_file(dir .. "/want-a", helpers.read_file(file))
      assert.is_true(s:deliver(secret { password = b }))
      helpers.write_file(dir .. "/want-b", helpers.read_file(file))
      -- (bounded, so that it ends even if this test fails half-way)
      local reader = script(dir, "reader", ([[
cd %s || exit 1
n=0
while [ ! -e stop ] && [ $n -lt 5000 ]; do
  n=$((n+1))
  cat %s > got 2>/dev/null || continue
  cmp -s got want-a || cmp -s got want-b || echo torn >> torn
  echo . >> reads
done
echo done > finished]]):format(q(dir), q(file)))
      local function wait_for(name)
        helpers.sh("i=0; while [ ! -e " .. q(dir .. "/" .. name) .. " ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done")
      end
      local function reads() return #(helpers.read_file(dir .. "/reads") or "") / 2 end
      assert(helpers.sh(q(reader) .. " >/dev/null 2>&1 &"))
      wait_for("reads")
      local i = 0
      repeat
        i = i + 1
        assert.is_true(s:deliver(secret { password = i % 2 == 0 and a or b }))
      until (i % 20 == 0 and reads() >= 100) or i >= 2000
      helpers.write_file(dir .. "/stop", "")
      wait_for("finished")
      assert.is_string(helpers.read_file(dir .. "/finished"))
      assert.is_true(reads() >= 20, "the reader read " .. reads() .. " times")
      assert.is_nil(helpers.read_file(dir .. "/torn"))
    end)

    it("withdraws by removing the file, and again without complaint", function()
      local s = assert(sink.dir(dir))
      local file = dir .. "/prodregistry/app-ci.password1.json"
      assert.is_true(s:deliver(secret()))
      assert.is_true(s:withdraw(ref_of(secret())))
      assert.is_nil(helpers.read_file(file))
      assert.is_true(s:withdraw(ref_of(secret())))
    end)

    it("reports a directory it cannot write, without the password", function()
      helpers.write_file(dir .. "/a-file", "x")
      local s, err = sink.dir(dir .. "/a-file")   -- its ledger cannot be there
      assert.is_nil(s)
      assert.matches("secrets-dir " .. dir .. "/a-file: ledger: ", err, 1, true)
      helpers.write_file(dir .. "/prodregistry", "x")
      s = assert(sink.dir(dir))
      local ok
      ok, err = s:deliver(secret())
      assert.is_nil(ok)
      no_secret(err)
      assert.matches("secrets-dir " .. dir .. ": " .. dir .. "/prodregistry: cannot make a directory: Not a directory",
        err, 1, true)
    end)

    it("keeps its ledger in the directory, without secrets", function()
      local s = assert(sink.dir(dir .. "/d/"))
      local key = ledger.key("S", "RG", "ProdRegistry", "App-CI")
      assert.is_true(s.ledger:intend(key, "password1", 1700000000))
      assert.is_true(s:deliver(secret()))
      assert.is_true(s.ledger:delivered(key, "password1", "2030-01-01T00:00:00Z"))
      local path = dir .. "/d/.acr-ledger.json.journal"   -- the changes, until the next open
      assert.are.equal("600", stat("%a", path))
      assert.is_nil(helpers.read_file(path):find(PASSWORD, 1, true))
      s:close()
      local again = assert(sink.dir(dir .. "/d"))
      assert.are.same({ state = "delivered", at = 1700000000, creation_time = "2030-01-01T00:00:00Z" },
        again.ledger:get(key, "password1"))
    end)

    it("is one run's at a time: another gets nil, err until close", function()
      local s = assert(sink.dir(dir .. "/d"))
      local ledger_path = dir .. "/d/.acr-ledger.json"
      assert.are.equal("600", stat("%a", ledger_path .. ".lock"))
      assert.are.equal("600", stat("%a", dir .. "/d/.acr-sink.lock"))
      -- another process, through the ledger and through the directory itself
      assert.matches("^refused: ledger " .. ledger_path:gsub("%p", "%%%0") .. " is in use by another run %(",
        other_open(ledger_path))
      local code = ([[
local s, err = require("acr.desired.sink").dir(%q, { ledger = %q })
io.write(s and "opened" or ("refused: " .. err))]]):format(dir .. "/d", dir .. "/elsewhere.json")
      assert.are.equal("refused: secrets-dir " .. dir .. "/d: " .. dir .. "/d is in use by another run ("
        .. dir .. "/d/.acr-sink.lock is locked; try again once it has ended)", other_run(code))
      -- this one: the same, cleanly
      local again, err = sink.dir(dir .. "/d")
      assert.is_nil(again)
      assert.matches("secrets-dir " .. dir .. "/d: ledger " .. ledger_path .. " is in use by another run", err, 1, true)
      local other = assert(ledger.open(dir .. "/other.json"))
      again, err = sink.dir(dir .. "/d", { ledger = other })
      assert.is_nil(again)
      assert.matches("secrets-dir " .. dir .. "/d: " .. dir .. "/d is in use by another run", err, 1, true)
      assert.is_true(other:intend("k", "password1", 1))   -- left open: the caller's
      -- closed: deliver raises, and the next run gets both
      s:close()
      s:close()
      assert.has_error(function() s:deliver(secret()) end,
        "bad argument #1 to 'deliver' (secrets-dir " .. dir .. "/d is closed)")
      assert.has_error(function() s.ledger:intend("k", "password1", 1) end)
      assert.are.equal("opened", other_open(ledger_path))
      assert.are.equal("opened", other_run(code))
      -- a ledger the sink did not open stays open when the sink closes
      local with_other = assert(sink.dir(dir .. "/d", { ledger = other }))
      with_other:close()
      assert.is_true(other:intend("k", "password2", 2))
      other:close()
    end)

    it("lets its locks go when it is collected", function()
      local s = assert(sink.dir(dir .. "/d"))
      assert.matches("^refused: ", other_open(dir .. "/d/.acr-ledger.json"))
      s = nil   -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.are.equal("opened", other_open(dir .. "/d/.acr-ledger.json"))
      assert.is_truthy(sink.dir(dir .. "/d"))
    end)

    it("removes the temporary files a killed run left, before its first write there", function()
      local reg = dir .. "/prodregistry"
      assert(helpers.sh("mkdir -p " .. q(reg)))
      local stale = reg .. "/.acr-tmp-0123456789abcdef"
      helpers.write_file(stale, '{"password": "' .. PASSWORD .. '"}')
      helpers.write_file(reg .. "/.acr-tmp-notours", "kept")
      helpers.write_file(dir .. "/otherreg.txt", "kept")
      local s = assert(sink.dir(dir))
      assert.is_truthy(helpers.read_file(stale))   -- not at open: at the first write
      assert.is_true(s:deliver(secret()))
      assert.is_nil(helpers.read_file(stale))
      assert.are.equal("kept", helpers.read_file(reg .. "/.acr-tmp-notours"))
      assert.are.equal("kept", helpers.read_file(dir .. "/otherreg.txt"))
      -- once per directory and sink: a withdraw there does not sweep again
      helpers.write_file(stale, "x")
      assert.is_true(s:withdraw(ref_of(secret())))
      assert.is_truthy(helpers.read_file(stale))
      s:close()
      -- the next run sweeps on a withdraw too
      s = assert(sink.dir(dir))
      assert.is_true(s:withdraw(ref_of(secret())))
      assert.is_nil(helpers.read_file(stale))
      -- a registry's directory not there yet has nothing to sweep
      assert.is_true(s:withdraw(ref_of(secret { registry = "NewRegistry" })))
      assert.are.same({ 0 }, { sys.sweep_tmp(dir .. "/newregistry") })
      s:close()
    end)

    it("raises on misuse, naming the field and never its value", function()
      local s = assert(sink.dir(dir))
      local function raises(t, want, method)
        local ok, err = pcall(s[method or "deliver"], s, t)
        assert.is_false(ok)
        assert.matches(want, err, 1, true)
        no_secret(err)
      end
      raises(secret { registry = "../etc" }, "bad argument #2 to 'deliver' (field 'registry' must be 1 to 50")
      raises(secret { token = "a/b" }, "field 'token'")
      raises(secret { slot = "password3" }, "field 'slot'")
      raises(secret { password = 42 }, "field 'password' must be a non-empty string, got number")
      raises(secret { colour = "blue" }, "unknown field 'colour'")
      raises(secret { action = "withdraw" }, "field 'action'")
      local w = secret { action = "withdraw" }
      raises(w, "field 'password' must not be given to withdraw", "withdraw")
      raises("x", "bad argument #2 to 'deliver' (table expected, got string)")
      assert.has_error(function() sink.dir("") end)
      assert.has_error(function() sink.dir(dir, { ledgr = 1 }) end,
        "bad argument #2 to 'acr.desired.sink.dir' (unknown option 'ledgr')")
    end)
  end)

  describe("exec sink", function()
    it("gives the program the JSON on stdin, without a shell", function()
      local got = dir .. "/got.json"
      local prog = script(dir, "store", 'cat > "$1"')
      local s = sink.exec({ prog, got })
      assert.are.equal("exec", s.kind)
      assert.is_true(s:deliver(secret()))
      local text = helpers.read_file(got)
      assert.are.equal(1, select(2, text:gsub("\n", "")))   -- one line
      local t = helpers.json_decode(text)
      assert.are.equal("deliver", t.action)
      assert.are.equal(PASSWORD, t.password)
      assert.are.equal("prodregistry.azurecr.io", t.login_server)
      assert.are.equal("password1", t.slot)
      assert.is_true(s:withdraw(ref_of(secret())))
      t = helpers.json_decode(helpers.read_file(got))
      assert.are.equal("withdraw", t.action)
      assert.is_nil(t.password)
      assert.are.equal("App-CI", t.token)
      -- arguments reach it as they are
      local args = script(dir, "args", 'printf "%s|" "$@" > "$0.out"')
      local evil = "$(touch " .. dir .. "/pwned)"
      assert.is_true(sink.exec({ args, evil, "a b", ";" }):deliver(secret()))
      assert.are.equal(evil .. "|a b|;|", helpers.read_file(args .. ".out"))
      assert.is_nil(helpers.read_file(dir .. "/pwned"))
    end)

    it("reports a non-zero exit with a cleaned excerpt of stderr", function()
      local prog = script(dir, "fails", [[
read -r line
echo "first line" >&2
printf 'vault: denied \033[31m%s\n' "$(echo "$line" | sed 's/.*"password"/"password"/')" >&2
exit 3]])
      local ok, err = sink.exec({ prog }):deliver(secret())
      assert.is_nil(ok)
      no_secret(err)
      assert.matches("^secrets%-exec " .. prog:gsub("%p", "%%%0") .. ": exited with status 3 %(stderr: vault: denied %?%[31m", err)
      assert.matches("[redacted]", err, 1, true)
      assert.is_true(#err < 400)
      -- the password as it is, not JSON-escaped
      prog = script(dir, "echoes", 'echo "bad password $1" >&2; exit 1')
      ok, err = sink.exec({ prog, PASSWORD }):deliver(secret())
      assert.is_nil(ok)
      no_secret(err)
      assert.matches("bad password [redacted]", err, 1, true)
      -- as a JSON writer that escapes '/' writes it
      prog = script(dir, "reencodes", [[read -r line
echo "$line" | sed 's,/,\\/,g; s/.*"password"/"password"/' >&2; exit 1]])
      ok, err = sink.exec({ prog }):deliver(secret())
      assert.is_nil(ok)
      no_secret(err)
      assert.matches('(stderr: "password":"[redacted]"', err, 1, true)
      -- a start of it where a capped output ends
      assert.are.equal("cut at [redacted]", sink.redact("cut at " .. PASSWORD:sub(1, 9), PASSWORD))
    end)

    it("keeps no stdout, and takes base64 forms of the password out of stderr", function()
      -- stdout is read and thrown away in C: nothing of it comes back
      local ok, code, out, errout = sys.run({ "sh", "-c", "echo out; echo err >&2" }, { discard_stdout = true })
      assert.are.same({ true, 0, "", "err\n" }, { ok, code, out, errout })
      assert.has_error(function() sys.run({ "true" }, { discard_stdout = 1 }) end)
      -- forms made by coreutils, not by the code under test, each a command of the password
      local user = "App-CI"
      local function b64(pw) return "printf %s " .. q(pw) .. " | base64 -w0" end
      local function url(pw) return "printf %s " .. q(pw) .. " | basenc --base64url -w0" end
      local function pair(pw) return "printf %s " .. q(user .. ":" .. pw) .. " | base64 -w0" end
      local function config(pw)
        return "printf '{\"auths\":{\"prodregistry.azurecr.io\":{\"auth\":\"%s\"}}}' \"$(" .. pair(pw) .. ")\""
      end
      local forms = {
        plain = function(pw) return "printf %s " .. q(pw) end,
        std = b64,
        std_nopad = function(pw) return b64(pw) .. " | tr -d =" end,
        url = url,
        url_nopad = function(pw) return url(pw) .. " | tr -d =" end,
        pair = pair,
        pair_nopad = function(pw) return pair(pw) .. " | tr -d =" end,
        pair_url = function(pw) return "printf %s " .. q(user .. ":" .. pw) .. " | basenc --base64url -w0" end,
        docker_config = config,                                                     -- its "auth"
        k8s_secret = function(pw) return config(pw) .. " | base64 -w0" end,         -- .dockerconfigjson
        wrapped = function(pw) return config(pw) .. " | base64 | tr '\\n' ' '" end,  -- at 76 columns
      }
      -- What form(PASSWORD) writes, and its 8-character pieces that depend on the
      -- password: those that differ from what it writes for another password of the same
      -- length, and all between.
      local function secret_pieces(form)
        local _, text = helpers.sh(form(PASSWORD))
        local _, other = helpers.sh(form(("A"):rep(#PASSWORD)))
        assert.are.equal(#text, #other)
        local first, last
        for i = 1, #text do
          if text:byte(i) ~= other:byte(i) then first, last = first or i, i end
        end
        local pieces = {}
        for i = first, last - 7 do
          local piece = text:sub(i, i + 7)
          if not piece:find(" ", 1, true) then pieces[#pieces + 1] = piece end
        end
        assert.is_true(#pieces > 0)
        return text, pieces
      end
      for name, form in pairs(forms) do
        local text, pieces = secret_pieces(form)
        -- the password on stdout, then a form of it as the last words on stderr (the
        -- wrapped one as lines)
        local said = name == "wrapped" and text:gsub(" ", "\n") or ("login: " .. text .. "\n")
        local prog = script(dir, "echoes-" .. name, ("cat >/dev/null; printf '%%s\\n' %s; printf %%s %s >&2; exit 1")
          :format(q(PASSWORD), q(said)))
        local ok2, err = sink.exec({ prog }):deliver(secret { username = user })
        assert.is_nil(ok2)
        no_secret(err)
        assert.matches("[redacted]", err, 1, true)
        for _, piece in ipairs(pieces) do
          assert.is_nil(err:find(piece, 1, true), name .. ": " .. piece .. " in " .. err)
        end
        -- and in the whole of what it wrote, each line of the wrapped form too
        local _, _, _, errout = sys.run({ prog }, {})
        local clean = sink.redact(errout, PASSWORD, user)
        for _, piece in ipairs(pieces) do
          assert.is_nil(clean:find(piece, 1, true), name .. ": " .. piece .. " in " .. clean)
        end
      end
    end)

    it("kills a program that outlives its timeout", function()
      local prog = script(dir, "slow", "sleep 5")
      local t0 = os.time()
      local ok, err = sink.exec({ prog }, { timeout = 0.3 }):deliver(secret())
      assert.is_nil(ok)
      no_secret(err)
      assert.matches("did not finish within 0.3 s and was killed", err, 1, true)
      assert.is_true(os.time() - t0 < 4)
    end)

    it("reports a program that is not there or cannot run", function()
      local ok, err = sink.exec({ dir .. "/no-such-program" }):deliver(secret())
      assert.is_nil(ok)
      no_secret(err)
      assert.matches("not found", err, 1, true)
      helpers.write_file(dir .. "/not-executable", "#!/bin/sh\n")
      ok, err = sink.exec({ dir .. "/not-executable" }):deliver(secret())
      assert.is_nil(ok)
      assert.matches("not found, or not executable", err, 1, true)
      ok, err = sink.exec({ script(dir, "killed", "kill -9 $$") }):deliver(secret())
      assert.is_nil(ok)
      assert.matches("killed by signal 9", err, 1, true)
    end)

    it("takes the exit status of a program that does not read its stdin", function()
      assert.is_true(sink.exec({ script(dir, "ignores", "exit 0") }):deliver(secret()))
      local ok, err = sink.exec({ script(dir, "refuses", "exit 2") }):deliver(secret())
      assert.is_nil(ok)
      assert.matches("exited with status 2$", err)
    end)

    it("runs with large stdin and output, and a program that stops reading", function()
      local big = ("0123456789abcdef"):rep(256 * 1024)   -- 4 MiB
      local ok, code, out = sys.run({ "wc", "-c" }, { stdin = big })
      assert.is_true(ok)
      assert.are.equal(0, code)
      assert.are.equal(#big, tonumber(out:match("%d+")))
      ok, code, out = sys.run({ "cat" }, { stdin = big })
      assert.are.same({ true, 0, 1024 * 1024 }, { ok, code, #out })
      ok, code = sys.run({ "sh", "-c", "head -c 10 >/dev/null; exit 4" }, { stdin = big })
      assert.are.same({ true, 4 }, { ok, code })
      local kind
      ok, code, out, _, kind = sys.run({ "sleep", "5" }, { stdin = big, timeout = 0.2 })
      assert.are.same({ nil, "timeout" }, { ok, kind })
      ok, _, _, _, kind = sys.run({ dir .. "/nothing-here" }, { stdin = big })
      assert.are.same({ nil, "not_found" }, { ok, kind })
    end)

    it("raises on misuse", function()
      assert.has_error(function() sink.exec({}) end)
      assert.has_error(function() sink.exec("prog") end)
      assert.has_error(function() sink.exec({ "" }) end)
      assert.has_error(function() sink.exec({ "prog", 3 }) end,
        "bad argument #1 to 'acr.desired.sink.exec' (item 2 must be a string, got number)")
      assert.has_error(function() sink.exec({ "prog" }, { timeout = 0 }) end)
      assert.has_error(function() sink.exec({ "prog" }, { timeout = "5" }) end)
      assert.has_error(function() sys.run({ "x" }, { stdin = {} }) end,
        "bad argument #2 to 'acr._sys.run' (option 'stdin' must be a string, got table)")
    end)
  end)

  describe("func sink", function()
    it("hands a copy, and only true delivers", function()
      local seen, had_password
      local s = sink.func(function(x)
        seen, had_password = x, x.password ~= nil
        x.password = "changed"
        return true
      end)
      local sec = secret()
      assert.is_true(s:deliver(sec))
      assert.are.equal(PASSWORD, sec.password)
      assert.are.equal("deliver", seen.action)
      assert.is_true(s:withdraw(ref_of(sec)))
      assert.are.same({ "withdraw", false }, { seen.action, had_password })
      assert.are.equal("func", s.kind)
      assert.is_nil(s.ledger.path)   -- in memory
    end)

    it("reports a failure, a wrong answer and an error, without the password", function()
      local cases = {
        { function(x) return nil, "store rejected " .. x.password end, "store rejected [redacted]" },
        { function(x) error("boom " .. x.password .. "\nsecond line") end, "raised: " },
        { function() return 1 end, "returned number, not true" },
        { function() return false end, "gave no reason" },
        { function() error({}) end, "raised: table" },
      }
      for _, c in ipairs(cases) do
        local ok, err = sink.func(c[1]):deliver(secret())
        assert.is_nil(ok)
        no_secret(err)
        assert.matches("secrets function: ", err, 1, true)
        assert.matches(c[2], err, 1, true)
      end
      assert.has_error(function() sink.func("f") end,
        "bad argument #1 to 'acr.desired.sink.func' (function expected, got string)")
    end)
  end)

  describe("ledger", function()
    local KEY = ledger.key("11111111-1111-1111-1111-111111111111", "RG-Prod", "ProdRegistry", "App-CI")

    it("keys are lower-cased", function()
      assert.are.equal("11111111-1111-1111-1111-111111111111/rg-prod/prodregistry/app-ci", KEY)
      assert.has_error(function() ledger.key("a", "b/c", "d", "e") end)
    end)

    it("keeps each slot's state across open()", function()
      local path = dir .. "/sub/ledger.json"
      local l = assert(ledger.open(path))
      -- what a run that opens it after this one has closed it reads
      local function after_close(key, slot)
        l:close()
        local other = assert(ledger.open(path))
        local e = other:get(key, slot)
        other:close()
        l = assert(ledger.open(path))
        return e
      end
      assert.is_nil(l:get(KEY, "password1"))
      assert.is_nil(helpers.read_file(path .. ".journal"))   -- made on the first change
      assert.are.equal("700", stat("%a", dir .. "/sub"))   -- for the lock
      assert.is_true(l:intend(KEY, "password1", 1700000000))
      assert.are.equal("600", stat("%a", path .. ".journal"))
      assert.are.same({ state = "intended", at = 1700000000 }, after_close(KEY, "password1"))
      assert.is_true(l:generated(KEY, "password1", "2030-01-01T00:00:00Z"))
      assert.are.same({ state = "generated", at = 1700000000, creation_time = "2030-01-01T00:00:00Z" },
        after_close(KEY, "password1"))
      assert.is_true(l:intend(KEY, "password2", 1700000100))
      assert.is_true(l:delivered(KEY, "password1", "2030-01-01T00:00:00Z"))
      l:close()
      local again = assert(ledger.open(path))
      assert.are.equal("delivered", again:get(KEY, "password1").state)
      assert.are.equal("intended", again:get(KEY, "password2").state)
      assert.is_true(again:forget(KEY, "password2"))
      assert.is_true(again:forget(KEY, "password2"))
      assert.are.same({ "delivered" }, { again:get(KEY, "password1").state, again:get(KEY, "password2") })
      assert.are.same({ [KEY] = { password1 = { state = "delivered", at = 1700000000,
        creation_time = "2030-01-01T00:00:00Z" } } }, again:to_table())
      -- a copy: changing it changes nothing
      again:get(KEY, "password1").state = "intended"
      assert.are.equal("delivered", again:get(KEY, "password1").state)
      again:close()
      assert.is_nil(assert(ledger.open(path)):get(KEY, "password2"))
    end)

    it("appends a line per change and folds the journal into the file at open", function()
      local path = dir .. "/j/ledger.json"
      local l = assert(ledger.open(path))
      for i = 1, 50 do assert.is_true(l:intend(KEY .. i, "password1", 1700000000 + i)) end
      assert.is_true(l:forget(KEY .. 7, "password1"))
      l:close()
      local _, lines = helpers.sh("wc -l < " .. q(path .. ".journal"))
      assert.are.equal("51", lines:match("%d+"))
      assert.is_nil(helpers.read_file(path))
      -- a last line a crash cut short is dropped; the rest is folded in, the journal gone
      local f = assert(io.open(path .. ".journal", "ab"))
      f:write('{"e":{"at":1,"state":"intended"},"k":"cut')
      f:close()
      local again = assert(ledger.open(path))
      assert.is_nil(helpers.read_file(path .. ".journal"))
      assert.are.equal(1700000050, again:get(KEY .. 50, "password1").at)
      assert.is_nil(again:get(KEY .. 7, "password1"))
      again:close()
      local third = assert(ledger.open(path))
      assert.are.equal(1700000003, third:get(KEY .. 3, "password1").at)
      third:close()
      -- a journal of nothing but a cut-short line is folded too, so the next change
      -- starts a line of its own
      helpers.write_file(path .. ".journal", '{"e":{"at":1,"sta')
      local fourth = assert(ledger.open(path))
      assert.is_nil(helpers.read_file(path .. ".journal"))
      assert.is_true(fourth:intend(KEY, "password2", 1700000200))
      fourth:close()
      local fifth = assert(ledger.open(path))
      assert.are.equal(1700000200, fifth:get(KEY, "password2").at)
      fifth:close()
      -- a line that is whole and wrong is not guessed at: the ledger does not open
      helpers.write_file(path .. ".journal", '{"k":"x","s":"password9"}\n')
      local bad, err = ledger.open(path)
      assert.is_nil(bad)
      assert.matches("a line is malformed", err, 1, true)
    end)

    it("is one run's at a time: another gets nil, err until close", function()
      local path = dir .. "/state/acr/ledger.json"
      local l = assert(ledger.open(path))
      assert.are.equal("600", stat("%a", path .. ".lock"))
      local busy = "ledger " .. path .. " is in use by another run (" .. path
        .. ".lock is locked; try again once it has ended)"
      assert.are.equal("refused: " .. busy, other_open(path))
      assert.are.same({ nil, busy }, { ledger.open(path) })   -- a second open here too
      -- the other run never saw the file, so it cannot have lost this one's records
      assert.is_true(l:intend(KEY, "password1", 7))
      l:close()
      l:close()   -- idempotent
      assert.has_error(function() l:intend(KEY, "password2", 1) end,
        "bad argument #1 to 'intend' (ledger " .. path .. " is closed)")
      assert.has_error(function() l:get(KEY, "password1") end)
      assert.are.equal(7, l:to_table()[KEY].password1.at)   -- still readable as data
      -- the other run, now: it reads what this one wrote, under the lock
      assert.are.equal("intended", other_run(([[
local l = assert(require("acr.desired.ledger").open(%q))
io.write(l:get(%q, "password1").state)
l:close()]]):format(path, KEY)))
      -- a lock file left by an earlier run is taken as it is
      assert.are.equal("opened", other_open(path))
    end)

    it("lets the lock go when the ledger is collected, and in a <close> scope on 5.4", function()
      local path = dir .. "/ledger.json"
      local l = assert(ledger.open(path))
      assert.matches("^refused: ", other_open(path))
      l = nil   -- luacheck: ignore
      collectgarbage()
      collectgarbage()
      assert.are.equal("opened", other_open(path))
      if _VERSION == "Lua 5.4" and not jit then
        local f = assert(load([[
local ledger, path = ...
do
  local l <close> = assert(ledger.open(path))
end
return ledger.open(path)]]))
        assert.is_truthy(f(ledger, path))
      end
    end)

    it("needs no lock in memory", function()
      local a, b = ledger.memory(), ledger.memory()
      assert.is_true(a:intend(KEY, "password1", 1))
      assert.is_true(b:intend(KEY, "password1", 2))
      a:close()
      assert.has_error(function() a:intend(KEY, "password1", 1) end)
      assert.has_error(function() ledger.open("a\0b") end)
    end)

    it("refuses a file that is not a ledger, and never overwrites it", function()
      local path = dir .. "/bad.json"
      for _, text in ipairs { "not json", "[]", '{"version":2,"slots":{}}',
        '{"version":1,"slots":{"k":{"password3":{"state":"intended"}}}}',
        '{"version":1,"slots":{"k":{"password1":{"state":"lost"}}}}' } do
        helpers.write_file(path, text)
        local l, err = ledger.open(path)
        assert.is_nil(l)
        assert.matches("ledger " .. path, err, 1, true)
      end
      local l, err = ledger.open(dir)   -- a directory
      assert.is_nil(l)
      assert.is_string(err)
    end)

    it("leaves an entry as it was when it cannot save", function()
      local l = assert(ledger.open(dir .. "/ledger.json"))
      assert(helpers.sh("mkdir " .. q(dir .. "/ledger.json.journal")))   -- now it cannot be written
      local ok, err = l:intend(KEY, "password1", 1)
      assert.is_nil(ok)
      assert.matches("ledger: ", err, 1, true)
      assert.is_nil(l:get(KEY, "password1"))
      l:close()
    end)

    it("in memory, the same without a file", function()
      local l = ledger.memory()
      assert.is_true(l:intend(KEY, "password2", 5))
      assert.is_true(l:generated(KEY, "password2", "2030-01-01T00:00:00Z"))
      assert.are.same({ state = "generated", at = 5, creation_time = "2030-01-01T00:00:00Z" },
        l:get(KEY, "password2"))
      assert.is_true(sink.exec({ "true" }).ledger ~= sink.exec({ "true" }).ledger)
    end)

    it("raises on misuse", function()
      local l = ledger.memory()
      assert.has_error(function() l:intend(KEY, "password3", 1) end,
        "bad argument #3 to 'intend' ('password1' or 'password2' expected, got 'password3')")
      assert.has_error(function() l:intend(KEY, "password1", "soon") end)
      assert.has_error(function() l:generated(KEY, "password1", 5) end)
      assert.has_error(function() l.get({}, KEY, "password1") end)
      assert.has_error(function() ledger.open(5) end)
    end)
  end)
end)
