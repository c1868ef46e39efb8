#!/usr/bin/env bash
# Installs redis-server and redis-cli from Debian's packages when either is missing: the
# Redis tests start their own server on a free loopback port and drive it with redis-cli.
set -euo pipefail

if command -v redis-server >/dev/null && command -v redis-cli >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "redis-server or redis-cli not found: installing them from Debian's packages" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
# The package starts a system-wide server on port 6379; the tests never use it.
command -v redis-server >/dev/null && command -v redis-cli >/dev/null
