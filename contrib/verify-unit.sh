#!/usr/bin/env bash
# Checks contrib/tplab-proxy@.service with `systemd-analyze verify`, pointing ExecStart at the
# binary given as $1 (systemd-analyze checks that it exists). Exit 4 = skipped, with the reason.
set -euo pipefail

binary=${1:?usage: verify-unit.sh PATH-TO-TPLAB}
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v systemd-analyze >/dev/null; then
    echo "SKIP: systemd-analyze not found (Debian package systemd)"
    exit 4
fi

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
# An instance name, as systemctl would use it; ExecStart points at the binary under test.
sed "s|/usr/local/bin/tplab|$binary|" "$here/tplab-proxy@.service" >"$scratch/tplab-proxy@example.service"

# verify prints warnings and errors on stderr and exits non-zero on errors; any line about our
# unit (e.g. an unknown directive, which is only a warning) counts as a failure too.
if ! output=$(cd "$scratch" && SYSTEMD_LOG_LEVEL=warning systemd-analyze verify \
    "$scratch/tplab-proxy@example.service" 2>&1); then
    echo "FAIL: systemd-analyze verify:"
    echo "$output"
    exit 1
fi
if grep -q "tplab-proxy@" <<<"$output"; then
    echo "FAIL: systemd-analyze verify warns about the unit:"
    echo "$output"
    exit 1
fi
echo "PASS: systemd-analyze verify tplab-proxy@example.service"
