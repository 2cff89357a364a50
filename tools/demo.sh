#!/bin/sh
# tools/demo.sh BUILD_DIR — what `make demo` runs.
#
# Starts acr-emulator over TLS in a temporary directory (LROs poll once, one
# second apart, so the long-running operations are visible but quick), takes a
# bearer token from its admin endpoint, and runs the examples against it:
# rotate-token.lua, audit.lua and cleanup-disabled.lua --dry-run, with Lua 5.4 and
# the module built in BUILD_DIR. The emulator is stopped however the demo ends.
set -eu

usage() {
  echo "usage: sh tools/demo.sh BUILD_DIR   (BUILD_DIR holds lua5.4/acr.so: make build)" >&2
  exit 2
}
[ $# -eq 1 ] || usage

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "demo: no build directory '$1'" >&2; usage; }
[ -f "$BUILD/lua5.4/acr.so" ] || { echo "demo: $BUILD/lua5.4/acr.so is missing: run make build" >&2; exit 1; }
LUA=${LUA:-lua5.4}
command -v "$LUA" >/dev/null || { echo "demo: $LUA not found (make deps)" >&2; exit 1; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/acr-demo.XXXXXX")
cleanup() {
  "$ROOT/bin/acr-emulator" stop --dir "$DIR" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

section() {
  printf '\n== %s\n' "$*"
}

section "starting acr-emulator (TLS, LROs poll once with Retry-After: 1, 3 seeded tokens)"
"$ROOT/bin/acr-emulator" start --dir "$DIR" --tls --polls 1 --retry-after 1 --seed-data 3 \
    --registry 00000000-0000-0000-0000-000000000001/rg-demo/demoregistry \
    --registry 00000000-0000-0000-0000-000000000001/rg-emulator/emuregistry \
    --registry 00000000-0000-0000-0000-000000000002/rg-dev/devregistry --watch-pid $$ >"$DIR/start.out" 2>"$DIR/start.err" || {
  cat "$DIR/start.err" >&2
  echo "demo: the emulator did not start" >&2
  exit 1
}
URL=$(sed -n 1p "$DIR/start.out")
CA=$(sed -n 2p "$DIR/start.out")
echo "endpoint $URL, CA file $CA"

# A bearer token the emulator issued (it rejects others, as ARM does).
ACR_ACCESS_TOKEN=$(curl -sS --fail --cacert "$CA" -X POST -H 'Content-Type: application/json' \
    -d '{}' "$URL/__admin/token" | sed -n 's/.*"access_token" *: *"\([^"]*\)".*/\1/p')
[ -n "$ACR_ACCESS_TOKEN" ] || { echo "demo: no token from $URL/__admin/token" >&2; exit 1; }

# The examples read the connection from the environment, as a runbook would.
ACR_ENDPOINT=$URL
ACR_CA_FILE=$CA
AZURE_SUBSCRIPTION_ID=00000000-0000-0000-0000-000000000001
ACR_RESOURCE_GROUP=rg-demo
ACR_REGISTRY=demoregistry
LUA_CPATH="$BUILD/lua5.4/?.so;;"
LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;"
export ACR_ACCESS_TOKEN ACR_ENDPOINT ACR_CA_FILE AZURE_SUBSCRIPTION_ID ACR_RESOURCE_GROUP \
    ACR_REGISTRY LUA_CPATH LUA_PATH

section "examples/rotate-token.lua --repository library/nginx"
"$LUA" "$ROOT/examples/rotate-token.lua" --repository library/nginx

section "giving seed-token-0002 two passwords (one expiring in 10 days) and disabling seed-token-0003"
"$LUA" - <<'EOF'
local acr = require "acr"
local client = acr.client {
  subscription_id = os.getenv "AZURE_SUBSCRIPTION_ID", resource_group = os.getenv "ACR_RESOURCE_GROUP",
  registry = os.getenv "ACR_REGISTRY", endpoint = os.getenv "ACR_ENDPOINT",
  ca_file = os.getenv "ACR_CA_FILE", credential = acr.credential.static(os.getenv "ACR_ACCESS_TOKEN"),
}
local function day(n) return os.date("!%Y-%m-%dT%H:%M:%SZ", os.time() + n * 86400) end
local tok = assert(client:get_token("seed-token-0002"))
assert(tok:generate_credentials { name = "password1", expiry = day(10) })
assert(tok:generate_credentials { name = "password2", expiry = day(180) })
assert(client:disable_token("seed-token-0003"))
client:close()
print("done")
EOF

section "examples/audit.lua"
"$LUA" "$ROOT/examples/audit.lua"

section "examples/cleanup-disabled.lua --dry-run"
"$LUA" "$ROOT/examples/cleanup-disabled.lua" --dry-run

section "desired state: examples/registries.yaml planned, applied (passwords into $DIR/secrets), planned again"
"$LUA" - "$ROOT/examples/registries.yaml" "$DIR/secrets" <<'EOF'
local acr = require "acr"
local desired = require "acr.desired"
local file, dir = arg[1], arg[2]
local cred = acr.credential.static(os.getenv "ACR_ACCESS_TOKEN")
local function client_for(reg)
  return acr.client { subscription_id = reg.subscription, resource_group = reg.resource_group,
    registry = reg.name, endpoint = os.getenv "ACR_ENDPOINT", ca_file = os.getenv "ACR_CA_FILE",
    credential = cred }
end
local sink = assert(desired.sink.dir(dir))
local plan = assert(acr.plan(client_for, file, { sink = sink }))
io.write(tostring(plan))
local result = plan:apply { width = 32 }
print(("applied: %d succeeded, %d failed, %d skipped"):format(result.succeeded, result.failed, result.skipped))
assert(result.ok, "the apply failed")
local again = assert(acr.plan(client_for, file, { sink = sink }))
io.write(tostring(again))
assert(again:is_empty(), "the plan after the apply is not empty")
sink:close()
EOF
ls -l "$DIR/secrets"/*/ | sed 's/^/  /'

section "what the emulator saw"
curl -sS --cacert "$CA" "$URL/__admin/stats"
echo
echo
echo "demo: all examples passed"
