#!/bin/sh
# tools/fuzz.sh BUILD_DIR: runs tools/fuzz.lua under the ASan+UBSan Lua host with the
# environment ctest gives the lua5.4-asan flavour (CMakeLists.txt, ACR_ASAN_ENV), and
# names the case when a sanitizer aborts the process. FUZZ_SECONDS, FUZZ_SEED,
# FUZZ_CASES and FUZZ_CASE pass through (tools/fuzz.lua says what they do).
set -u
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
case $build in /*) ;; *) build=$root/$build ;; esac
host=$build/lua5.4-asan/lua5.4
if [ ! -x "$host" ] || [ ! -f "$build/lua5.4-asan/acr.so" ]; then
  echo "fuzz: $host or its acr.so is missing: build with ACR_ASAN=ON (make build)" >&2
  exit 2
fi

state=$(mktemp "${TMPDIR:-/tmp}/acr-fuzz.XXXXXX") || exit 2
trap 'rm -f "$state"' EXIT INT TERM

# halt_on_error: the first UBSan report ends the run (the module is also built with
# -fno-sanitize-recover=undefined); abort_on_error: ASan ends it with SIGABRT.
ASAN_OPTIONS=${FUZZ_ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1} \
UBSAN_OPTIONS=${FUZZ_UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
ACR_LOOPBACK_GUARD=$state.guard \
LUA_PATH="$root/tools/?.lua;$root/spec/?.lua;$root/lua/?.lua;$root/lua/?/init.lua;;" \
LUA_CPATH="$build/lua5.4-asan/?.so;;" \
FUZZ_STATE=$state \
  "$host" "$root/tools/fuzz.lua"
rc=$?

if [ -s "$state.guard" ]; then
  echo "fuzz: a connection left loopback:" >&2
  cat "$state.guard" >&2
  rc=1
fi
rm -f "$state.guard"
if [ $rc -gt 1 ] && [ -s "$state" ]; then
  # not the driver's own verdict (0 or 1): a sanitizer or the host stopped it mid-case
  set -- $(cat "$state")
  echo "fuzz: the process died (status $rc) in case $2;" \
       "reproduce: FUZZ_SEED=$1 FUZZ_CASE=$2 make fuzz" >&2
fi
exit $rc
