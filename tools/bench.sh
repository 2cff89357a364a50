#!/bin/sh
# tools/bench.sh BUILD_DIR — what `make bench` runs. A benchmark, not a test.
#
# Against acr-emulator on loopback, over http and over TLS:
#   lifecycle  BENCH_N tokens (default 200): create scope map, create token, get,
#              update, generate credentials, delete token, delete scope map
#   listing    5,000 seeded tokens, page size 100, `for tok in client:tokens()`,
#              Lua memory sampled at every page boundary
# Each scenario runs BENCH_RUNS times (default 5), each run in a fresh process,
# for Lua 5.4 and, when BUILD_DIR/luajit/acr.so and luajit exist, for LuaJIT;
# the table gives the medians. LROs answer at once (--polls 0 --retry-after 0),
# so the figures are the client's and the emulator's own costs, not waits.
#
# Then the concurrent scenarios of bench/concurrent.lua and the desired-state one of
# bench/desired.lua (see below).
# env: BENCH_N, BENCH_RUNS, BENCH_SEEDED (5000), BENCH_PAGE (100),
#      BENCH_TRANSPORTS ("http tls"), BENCH_OUT (keep the raw RESULT lines there),
#      BENCH_CONCURRENT (0: skip them), BENCH_CONC_N ("64 256"), BENCH_CONC_WIDTHS
#      ("1 8 32 128 256"), BENCH_ALL (1: also the combinations of more than 64 waves),
#      BENCH_DESIRED (0: skip it), BENCH_DESIRED_N (500), BENCH_DESIRED_WIDTHS ("32 256"),
#      BENCH_DESIRED_THROTTLE (the buckets, --throttle's SPEC: "on", ARM's),
#      BENCH_DESIRED_THROTTLED_WIDTHS ("32 256"), BENCH_DESIRED_SINK (func; dir)
set -eu

usage() {
  echo "usage: sh tools/bench.sh BUILD_DIR   (BUILD_DIR holds lua5.4/acr.so: make build)" >&2
  exit 2
}
[ $# -eq 1 ] || usage

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=$(cd "$1" 2>/dev/null && pwd) || { echo "bench: no build directory '$1'" >&2; usage; }
[ -f "$BUILD/lua5.4/acr.so" ] || { echo "bench: $BUILD/lua5.4/acr.so is missing: run make build" >&2; exit 1; }

BENCH_N=${BENCH_N:-200}
BENCH_RUNS=${BENCH_RUNS:-5}
BENCH_SEEDED=${BENCH_SEEDED:-5000}
BENCH_PAGE=${BENCH_PAGE:-100}
BENCH_TRANSPORTS=${BENCH_TRANSPORTS:-http tls}
export BENCH_N BENCH_SEEDED BENCH_PAGE

FLAVOURS="lua5.4"
if [ -f "$BUILD/luajit/acr.so" ] && command -v luajit >/dev/null 2>&1; then
  FLAVOURS="$FLAVOURS luajit"
fi

DIR=$(mktemp -d "${TMPDIR:-/tmp}/acr-bench.XXXXXX")
cleanup() {
  for d in "$DIR"/em-*; do
    [ -d "$d" ] && "$ROOT/bin/acr-emulator" stop --dir "$d" >/dev/null 2>&1
  done
  rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
RESULTS=$DIR/results.txt
: >"$RESULTS"

START=$(date +%s)
echo "lua-acr bench: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "machine: $(nproc) CPUs, $(sed -n 's/^model name[^:]*: *//p' /proc/cpuinfo | head -1), $(uname -sr)"
echo "clients: $FLAVOURS ($(lua5.4 -v 2>&1 | head -1 | cut -d' ' -f1-2)$(command -v luajit >/dev/null 2>&1 && echo ", $(luajit -v | cut -d' ' -f1-2)")), $(curl --version | head -1 | cut -d' ' -f1-2 | sed 's/curl/libcurl/')"
echo "server: acr-emulator ($(nginx -v 2>&1 | sed 's/.*: //')), one worker, on 127.0.0.1"
echo "lifecycle: $BENCH_N tokens; listing: $BENCH_SEEDED tokens, page size $BENCH_PAGE; $BENCH_RUNS runs each"

# start_emulator NAME TRANSPORT EXTRA_FLAGS… — prints nothing; sets URL and CA.
start_emulator() {
  name=$1 transport=$2
  shift 2
  d=$DIR/em-$name-$transport
  mkdir -p "$d"
  tls=""
  [ "$transport" = tls ] && tls=--tls
  "$ROOT/bin/acr-emulator" start --dir "$d" $tls --polls 0 --retry-after 0 --watch-pid $$ "$@" \
      >"$d/start.out" 2>"$d/start.err" || {
    cat "$d/start.err" >&2
    echo "bench: the emulator did not start" >&2
    exit 1
  }
  URL=$(sed -n 1p "$d/start.out")
  CA=$(sed -n 2p "$d/start.out")
}

stop_emulator() {
  "$ROOT/bin/acr-emulator" stop --dir "$DIR/em-$1-$2" >/dev/null 2>&1 || true
}

run_scenario() {
  scenario=$1 transport=$2
  for flavour in $FLAVOURS; do
    printf '%-9s %-4s %-6s ' "$scenario" "$transport" "$flavour"
    run=1
    while [ "$run" -le "$BENCH_RUNS" ]; do
      # A new registry name per run (bench.lua), so every run starts from the same state.
      BENCH_RUN=$run LUA_CPATH="$BUILD/$flavour/?.so;;" \
        "$flavour" "$ROOT/bench/bench.lua" "$scenario" "$URL" "$CA" >>"$RESULTS" 2>"$DIR/err" || {
        echo
        cat "$DIR/err" >&2
        echo "bench: $scenario run $run failed ($flavour, $transport)" >&2
        exit 1
      }
      printf '.'
      run=$((run + 1))
    done
    echo
  done
}

echo
for transport in $BENCH_TRANSPORTS; do
  start_emulator life "$transport"
  run_scenario lifecycle "$transport"
  stop_emulator life "$transport"
  start_emulator list "$transport" --seed-data "$BENCH_SEEDED" --page-size "$BENCH_PAGE"
  run_scenario listing "$transport"
  stop_emulator list "$transport"
done

echo
lua5.4 "$ROOT/bench/report.lua" "$RESULTS"

# Concurrent scenarios (bench/concurrent.lua), one run each, Lua 5.4 and LuaJIT.
#   latency    50 ms a request, Retry-After 1: N tokens rotated and disabled, WIDTH at once
#   latency2   the same, 64 tokens of two clients (two registries) in one batch, 32 at once
#   throttled  ARM's buckets: 200 tokens, 64 at once
# A combination of more than 64 waves (width 1 with N = 256: about 10 minutes) runs only
# with BENCH_ALL=1.
# flavours_run NAME OUT ARGS...: bench/NAME.lua ARGS under each flavour, its lines
# appended to OUT
flavours_run() {
  fr_script=$1 fr_out=$2
  shift 2
  for flavour in $FLAVOURS; do
    LUA_PATH="$ROOT/lua/?.lua;$ROOT/lua/?/init.lua;;" LUA_CPATH="$BUILD/$flavour/?.so;;" \
      "$flavour" "$ROOT/bench/$fr_script.lua" "$@" >>"$fr_out" 2>"$DIR/err" || {
      cat "$DIR/err" >&2
      echo "bench: $fr_script $* failed ($flavour)" >&2
      exit 1
    }
    printf '.'
  done
}
CONC=$DIR/concurrent.txt
: >"$CONC"
conc_run() { flavours_run concurrent "$CONC" "$@"; }
if [ "${BENCH_CONCURRENT:-1}" = 1 ]; then
  echo
  printf 'concurrent '
  start_emulator lat http --latency-ms 50 --retry-after 1 --polls 1 --seed-data 257
  run=1
  for n in ${BENCH_CONC_N:-64 256}; do
    for w in ${BENCH_CONC_WIDTHS:-1 8 32 128 256}; do
      if [ $(( (n + w - 1) / w )) -gt 64 ] && [ "${BENCH_ALL:-0}" != 1 ]; then continue; fi
      [ "$w" -gt "$n" ] && continue   # no more in flight than there are tokens
      conc_run latency "$URL" "$n" "$w" "$run"
      run=$((run + 1))
    done
  done
  conc_run latency2 "$URL" 64 32 "$run"
  stop_emulator lat http
  # one status poll per long-running operation, after Retry-After: 1 s of the wall is
  # the last job's own wait, which no pacing shortens
  start_emulator thr http --throttle --retry-after 1 --polls 0 --seed-data 200
  conc_run throttled "$URL" 200 64 1
  stop_emulator thr http
  echo
  echo
  lua5.4 "$ROOT/bench/concurrent.lua" report "$CONC"
fi

# The desired-state scenario (bench/desired.lua), one run each, Lua 5.4 and LuaJIT:
# acr.plan + plan:apply over BENCH_DESIRED_N tokens in 2 registries of 2 subscriptions
# (one client each), every token created and given a password through a counting
# function sink, against 50 ms a request, Retry-After 1 and one "in progress" poll;
# unthrottled, then with ARM's buckets. Its ideal is max(t_chain, bucket bound):
# t_chain is the plan + apply of 1 scope map and 1 token alone, in the same run.
if [ "${BENCH_DESIRED:-1}" = 1 ]; then
  DES=$DIR/desired.txt
  : >"$DES"
  des_run() { flavours_run desired "$DES" "$@"; }
  echo
  printf 'desired '
  n=${BENCH_DESIRED_N:-500}
  run=1
  start_emulator des http --latency-ms 50 --retry-after 1 --polls 1
  for w in ${BENCH_DESIRED_WIDTHS:-32 256}; do
    des_run "$URL" "$n" "$w" "$run"
    run=$((run + 1))
  done
  stop_emulator des http
  start_emulator dthr http --latency-ms 50 --retry-after 1 --polls 1 \
    --throttle "${BENCH_DESIRED_THROTTLE:-on}"
  for w in ${BENCH_DESIRED_THROTTLED_WIDTHS:-32 256}; do
    des_run "$URL" "$n" "$w" "$run"
    run=$((run + 1))
  done
  stop_emulator dthr http
  echo
  echo
  lua5.4 "$ROOT/bench/desired.lua" report "$DES"
fi
[ -n "${BENCH_OUT:-}" ] && cp "$RESULTS" "$BENCH_OUT"
echo "total bench time: $(( $(date +%s) - START )) s"
