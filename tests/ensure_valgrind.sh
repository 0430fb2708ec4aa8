#!/usr/bin/env bash
# Debian's valgrind for the instruction-count gate (python -m harness gate instructions,
# tests/gate/; tests/ensure_debian_package.sh says what happens when it is missing).
exec bash "$(dirname "$0")/ensure_debian_package.sh" valgrind valgrind
