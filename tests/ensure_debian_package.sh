#!/usr/bin/env bash
# Make sure a Debian package a test needs is installed: ensure_debian_package.sh PACKAGE COMMAND.
# Called through tests/ensure_chromium.sh (the report's browser test) and
# tests/ensure_valgrind.sh (the instruction-count gate) by tox before their commands.
#
# - COMMAND on PATH: nothing to do.
# - missing and root with apt-get: `apt-get update && apt-get install -y PACKAGE`.
# - otherwise: say why and exit 0; the test that needs it then skips on a workstation and FAILS
#   when CI=true, so CI never passes without it.
set -u
package="$1"
command="$2"
me="ensure_$package"

if command -v "$command" >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "$me: $command is missing and we are not root;" \
        "install it with: sudo apt-get install -y $package" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "$me: $command is missing and apt-get is not available; install $package by hand" >&2
    exit 0
fi
echo "$me: installing Debian's $package (apt-get) ..." >&2
export DEBIAN_FRONTEND=noninteractive
if apt-get update -q >&2 && apt-get install -y -q --no-install-recommends "$package" >&2; then
    echo "$me: $("$command" --version 2>/dev/null || echo installed)" >&2
else
    echo "$me: apt-get could not install $package; the test that needs it will say so" >&2
fi
exit 0
