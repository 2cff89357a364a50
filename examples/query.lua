#!/usr/bin/env lua5.4
-- query.lua — the tokens of a registry filtered and shaped by a JMESPath expression,
-- as `az acr token list --query` does, printed as one line of JSON.
--
--   ACR_ACCESS_TOKEN=eyJ… lua5.4 examples/query.lua --subscription SUB \
--       --resource-group RG --registry NAME [--endpoint URL] [--ca-file F] \
--       [--query "[?properties.status=='disabled'].name"]
--
-- The expression sees the list of tokens, each the ARM document of one token
-- (name, id, properties.status, properties.scopeMapId, …, as tok:to_table() gives
-- it). It is compiled before anything is sent, so a malformed one costs no call.
--
-- Exit status: 0 success, 1 a failed call or an expression that failed on the data
-- (e.g. a function given the wrong type), 2 usage (also a malformed expression).

package.path = (arg[0]:match("^(.*)/[^/]*$") or ".") .. "/?.lua;" .. package.path
local runbook = require "runbook"
local jmespath = require "acr.jmespath"

local PROG = "query"
local USAGE = [[
usage: query.lua --subscription ID --resource-group RG --registry NAME
                 [--endpoint URL] [--ca-file FILE] [--query EXPRESSION]

  --endpoint URL         ARM endpoint (env ACR_ENDPOINT; default https://management.azure.com)
  --subscription ID      subscription id (env AZURE_SUBSCRIPTION_ID)
  --resource-group RG    resource group of the registry (env ACR_RESOURCE_GROUP)
  --registry NAME        registry name (env ACR_REGISTRY)
  --ca-file FILE         CA bundle for https (env ACR_CA_FILE)
  --query EXPRESSION     JMESPath over the list of tokens
                         [sort_by(@, &name)[].{name: name, status: properties.status}]

The bearer token comes from the environment variable ACR_ACCESS_TOKEN.]]

local DEFAULT = "sort_by(@, &name)[].{name: name, status: properties.status}"

local expr
local opts = runbook.parse_args(arg, {
  prog = PROG, usage = USAGE,
  values = { query = false },
  check = function(o)
    local err
    expr, err = jmespath.compile(o.query or DEFAULT)
    if not expr then runbook.usage_error("--query: " .. tostring(err)) end
  end,
})

local client = runbook.client(opts)

local tokens = jmespath.array()
local listed, err = pcall(function()
  for tok in client:tokens() do tokens[#tokens + 1] = tok:to_table() end
end)
if not listed then runbook.fail(err, client) end
client:close()

local result, qerr = expr:search(tokens)
if result == nil then runbook.fail(qerr) end
print(jmespath.encode(result))
