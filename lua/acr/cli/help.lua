-- acr.cli.help — the help texts: of the tool, of a group of commands, of a command.
-- Each takes the command table (acr.cli.commands) it describes.

local args = require "acr.cli.args"

local _M = {}

local PROG = "acr"

-- The common options' lines, each under the option it is about ("" for the lines
-- about no option): a command's help lists those it takes as they are (args.has_common).
local COMMON_HELP = {
  { "", "Connection (every command):" },
  { "registry", "  -r, --registry NAME        the registry (env ACR_REGISTRY)" },
  { "resource-group", "  -g, --resource-group RG    its resource group (env ACR_RESOURCE_GROUP; else looked up)" },
  { "subscription", [[
      --subscription ID      its subscription, id or name (env AZURE_SUBSCRIPTION_ID;
                             else az's default)]] },
  { "cloud", "      --cloud NAME           AzureCloud (default), AzureChinaCloud, AzureUSGovernment" },
  { "endpoint", "      --endpoint URL         ARM endpoint instead of the cloud's (env ACR_ENDPOINT)" },
  { "ca-file", "      --ca-file FILE         CA bundle for https (env REQUESTS_CA_BUNDLE)" },
  { "output", "  -o, --output FORMAT        json (default; AZURE_CORE_OUTPUT), jsonc, yaml, yamlc, table, tsv, none" },
  { "query", "      --query JMESPATH       JMESPath query applied to the output (see jmespath.org)" },
  { "verbose", "      --verbose              one line per HTTP exchange on stderr (never a secret)" },
  { "debug", [[
      --debug                as --verbose (exchanges, request ids, retries), and the
                             command's decisions]] },
  { "only-show-errors", "      --only-show-errors     no warnings on stderr, only errors" },
  { "help", "  -h, --help                 this help" },
  { "", [[
Credentials come from the environment (acr.credential.default(): AZURE_TENANT_ID,
AZURE_CLIENT_ID, AZURE_CLIENT_SECRET or AZURE_CLIENT_CERTIFICATE_PATH, workload identity,
managed identity, then the Azure CLI); never from arguments.]] },
}

-- The common options' help for the command spec.
local function common_help(spec)
  local lines = {}
  for _, e in ipairs(COMMON_HELP) do
    if e[1] == "" or args.has_common(spec, e[1]) then lines[#lines + 1] = e[2] end
  end
  return table.concat(lines, "\n")
end

-- syntax: s = help.expiry(width)  -- the lines of --expiration-in-days and --expiration
function _M.expiry(width)
  return ("      %-" .. width .. "s passwords expire N days from now (UTC)\n"
    .. "      %-" .. width .. "s passwords expire at TIME (RFC 3339, e.g. 2027-01-01T00:00:00Z)\n")
    :format("--expiration-in-days N", "--expiration TIME")
end

-- syntax: s = help.command(spec)
function _M.command(spec)
  return ("usage: %s %s %s\n\n%s\n\n%s%s\n"):format(PROG, spec.path, spec.usage, spec.summary,
    spec.help and (spec.help:gsub("\n$", "") .. "\n\n") or "", common_help(spec))
end

-- The summary lines of the commands whose path starts with prefix (all: "").
local function summaries(commands, lines, prefix)
  for _, path in ipairs(commands.ORDER) do
    if prefix == "" or path:sub(1, #prefix + 1) == prefix .. " " then
      lines[#lines + 1] = ("  %-28s %s"):format(path, commands.COMMANDS[path].summary)
    end
  end
  return lines
end

-- syntax: s = help.top(commands, doc)  -- doc: the path of CLI.md
function _M.top(commands, doc)
  local lines = summaries(commands, { ("usage: %s GROUP COMMAND [options]   (%s GROUP COMMAND -h "
    .. "for a command's help)"):format(PROG, PROG), "" }, "")
  lines[#lines + 1] = ""
  lines[#lines + 1] = "Exit status: 0 success, 1 an error (service, authentication, network), 2 usage, "
    .. "3 not found."
  lines[#lines + 1] = "acr --version prints the version. See " .. doc .. "."
  return table.concat(lines, "\n") .. "\n"
end

-- syntax: s = help.group(commands, prefix)  -- prefix: "token", "token credential"
function _M.group(commands, prefix)
  local lines = summaries(commands, { ("usage: %s %s COMMAND [options]"):format(PROG, prefix), "" },
    prefix)
  return table.concat(lines, "\n") .. "\n"
end

-- syntax: s = help.of(commands, prefix, doc)  -- a group's help, else the tool's
function _M.of(commands, prefix, doc)
  return commands.is_group(prefix) and _M.group(commands, prefix) or _M.top(commands, doc)
end

return _M
