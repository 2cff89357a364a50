#!/bin/sh
# Installs (as root) or names (otherwise) the Debian packages the build, the tests,
# the emulator and the demo need. Debian's `luajit`/`libluajit-5.1-dev` are never
# used: they conflict with luajit2, the LuaJIT that libnginx-mod-http-lua needs.
set -eu

PKGS="gcc make cmake pkg-config curl openssl ca-certificates python3
lua5.4 liblua5.4-dev luajit2 libluajit2-5.1-dev
libcurl4-openssl-dev libssl-dev
lua-cjson lua-busted lua-yaml luarocks
nginx-light libnginx-mod-http-lua lua-resty-core"

missing=""
for p in $PKGS; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  case "$st" in *"ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages:$missing" >&2
  echo "run as root: apt-get update && apt-get install -y --no-install-recommends$missing" >&2
  exit 1
fi
echo "installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
