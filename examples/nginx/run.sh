#!/bin/sh
# Renders nginx.conf.in into DIR and starts (or stops) the acr-admin example.
#
#   examples/nginx/run.sh start DIR PORT CONFIG CA_FILE [BUILD_DIR]
#   examples/nginx/run.sh stop DIR
#
# CONFIG is the service's JSON (see config.example.json); the client secret comes
# from AZURE_CLIENT_SECRET or the file CONFIG names. BUILD_DIR holds luajit/acr.so
# (default: build). Against the emulator, from the repository root:
#
#   bin/acr-emulator start --dir /tmp/em --tls \
#       --registry 00000000-0000-0000-0000-000000000001/rg-registry/myregistry   # prints https://127.0.0.1:PORT
#   # config: "endpoint" and "authority_host" https://localhost:PORT,
#   #         "hosts": {"localhost": "127.0.0.1"} (nginx checks certificates by name)
#   AZURE_CLIENT_SECRET=emulator-secret examples/nginx/run.sh start /tmp/admin 8080 \
#       /tmp/admin.json /tmp/em/tls/ca.pem
#   curl -s localhost:8080/tokens
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

case ${1:-} in
  start)
    [ $# -ge 5 ] || { echo "usage: $0 start DIR PORT CONFIG CA_FILE [BUILD_DIR]" >&2; exit 2; }
    dir=$2 port=$3 config=$4 ca=$5 build=${6:-$root/build}
    modules=${ACR_EMULATOR_MODULES:-/usr/share/nginx/modules}
    user=""
    [ "$(id -u)" = 0 ] && user="user root;"
    mkdir -p "$dir/logs" "$dir/tmp"
    dir=$(cd "$dir" && pwd)
    sed -e "s#{{PREFIX}}#$dir#g" -e "s#{{MODULES}}#$modules#g" -e "s#{{USER}}#$user#g" \
        -e "s#{{PORT}}#$port#g" -e "s#{{LUA_PATH}}#$here/lua/?.lua;$root/lua/?.lua#g" \
        -e "s#{{LUA_CPATH}}#$build/luajit/?.so#g" -e "s#{{CA_FILE}}#$ca#g" \
        -e "s#{{CONFIG}}#$config#g" "$here/nginx.conf.in" >"$dir/nginx.conf"
    exec nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/logs/error.log"
    ;;
  stop)
    [ $# -ge 2 ] || { echo "usage: $0 stop DIR" >&2; exit 2; }
    [ -f "$2/nginx.pid" ] && kill "$(cat "$2/nginx.pid")"
    exit 0
    ;;
  *)
    echo "usage: $0 start DIR PORT CONFIG CA_FILE [BUILD_DIR] | stop DIR" >&2
    exit 2
    ;;
esac
