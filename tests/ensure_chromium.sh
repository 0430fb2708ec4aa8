#!/usr/bin/env bash
# Debian's chromium for tests/harness/test_report_browser.py, which opens report.html in a real
# headless browser (tests/ensure_debian_package.sh says what happens when it is missing).
exec bash "$(dirname "$0")/ensure_debian_package.sh" chromium /usr/bin/chromium
