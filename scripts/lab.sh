#!/usr/bin/env bash
# The main job: installs what it needs, builds, then runs a lab (default: compare, REDIRECT and
# TPROXY side by side with captures at every hop and the report as text, JSON and HTML).
# Usage: sudo scripts/lab.sh [LAB] [LAB OPTIONS]   e.g. sudo scripts/lab.sh 04-tproxy --ipv6
set -euo pipefail
cd "$(dirname "$0")/.."

lab="${1:-compare}"
shift || true
if [ ! -x "labs/$lab.sh" ]; then
    echo "lab.sh: no lab named '$lab' (have: $(cd labs && ls ./*.sh | grep -v lib.sh | xargs -n1 basename | sed 's/\.sh$//' | tr '\n' ' '))" >&2
    exit 2
fi
scripts/install-deps.sh
scripts/build.sh >/dev/null
exec "labs/$lab.sh" "$@"
