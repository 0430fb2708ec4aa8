#!/usr/bin/env bash
# Make sure Debian's valgrind is installed for the instruction-count gate
# (python -m harness gate instructions, tests/gate/). Called by tox's `gate` and `py`
# environments before their commands.
#
# - valgrind on PATH: nothing to do.
# - missing and root with apt-get: `apt-get update && apt-get install -y valgrind`.
# - otherwise: say why and exit 0; the gate then refuses in one line (exit 2) and the slow
#   tests skip on a workstation but FAIL when CI=true, so CI never passes without counting.
set -u

if command -v valgrind >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" != "0" ]; then
    echo "ensure_valgrind: valgrind is missing and we are not root;" \
        "install it with: sudo apt-get install -y valgrind" >&2
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure_valgrind: valgrind is missing and apt-get is not available;" \
        "install valgrind by hand" >&2
    exit 0
fi
echo "ensure_valgrind: installing Debian's valgrind (apt-get) ..." >&2
export DEBIAN_FRONTEND=noninteractive
if apt-get update -q >&2 && apt-get install -y -q --no-install-recommends valgrind >&2; then
    echo "ensure_valgrind: $(valgrind --version 2>/dev/null || echo installed)" >&2
else
    echo "ensure_valgrind: apt-get could not install valgrind; the gate will say so" >&2
fi
exit 0
