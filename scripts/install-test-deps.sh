#!/usr/bin/env bash
# Installs redis-server from Debian's packages when it is missing: the Redis tests start
# their own server from it on a free loopback port.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "redis-server not found: installing it from Debian's packages" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >/dev/null
# The package starts a system-wide server on port 6379; the tests never use it.
command -v redis-server >/dev/null
