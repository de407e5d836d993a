#!/bin/sh
# Installs the Debian packages StrataDB needs to build, test and benchmark.
# Idempotent: apt-get runs only when something is missing, and `apt-get
# update` runs first only in that case.
set -e
PKGS="build-essential clang clang-format libclang-rt-14-dev pkg-config
libzstd-dev liblz4-dev libxxhash-dev
librocksdb-dev libleveldb-dev liblmdb-dev libsqlite3-dev
redis-server redis-tools
python3-pytest python3-redis python3-hypothesis"
missing=""
for p in $PKGS; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0
echo "deps: installing$missing" >&2
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $missing >&2
# Debian starts the packaged redis-server as a service; tests start their own.
if command -v systemctl >/dev/null 2>&1; then
    $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
