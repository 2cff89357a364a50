-- bench/common.lua — what the bench scripts share: a clock, peak RSS, calls to the
-- emulator's admin API, and the RESULT line that bench/report.lua, `concurrent.lua
-- report` and `desired.lua report` read (print_result writes it, read_result reads it).
local _M = {}

local has_system, system = pcall(require, "system")

-- syntax: seconds = common.wall()  -- sub-second precision, from luasystem or /proc/uptime
function _M.wall()
  if has_system and system.monotime then return system.monotime() end
  local f = assert(io.open("/proc/uptime"))
  local t = tonumber(f:read("*l"):match("^(%S+)"))
  f:close()
  return t
end

-- syntax: kb = common.vm_hwm_kb()  -- peak RSS of the whole process
function _M.vm_hwm_kb()
  local f = io.open("/proc/self/status")
  if not f then return 0 end
  local s = f:read("*a")
  f:close()
  return tonumber(s:match("VmHWM:%s*(%d+)")) or 0
end

-- syntax: doc = common.admin_call(client, url, method, path, body?)  -- raises on failure
function _M.admin_call(client, url, method, path, body)
  local res, err = client:request(method, url .. "/__admin/" .. path,
    { api_version = false, body = body })
  if not res then error("admin " .. path .. ": " .. tostring(err), 0) end
  local doc = res.body
  if type(doc) == "string" then
    local ok, cjson = pcall(require, "cjson")
    doc = ok and cjson.decode(doc) or error("admin " .. path .. ": cannot decode " .. doc)
  end
  return doc
end

-- syntax: common.print_result(result)  -- "RESULT k=v …", keys sorted, no spaces in values
function _M.print_result(result)
  local keys = {}
  for k in pairs(result) do keys[#keys + 1] = k end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local v = result[k]
    if type(v) == "number" then
      v = v == math.floor(v) and ("%d"):format(v) or ("%.6f"):format(v)
    end
    out[#out + 1] = k .. "=" .. tostring(v):gsub("%s", "_")
  end
  print("RESULT " .. table.concat(out, " "))
end

-- syntax: r = common.read_result(line)  -- print_result's table (numbers as numbers, "_"
-- back to blanks), or nil for a line that is not a RESULT line
function _M.read_result(line)
  local body = line:match("^RESULT (.*)$")
  if not body then return nil end
  local r = {}
  for k, v in body:gmatch("(%S+)=(%S+)") do r[k] = tonumber(v) or v:gsub("_", " ") end
  return r
end

-- syntax: s = common.short_lua(name)  -- "luajit" or "5.4", for a report's column
function _M.short_lua(name)
  return name:find("LuaJIT", 1, true) and "luajit" or "5.4"
end

return _M
