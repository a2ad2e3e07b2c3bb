#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds, runs every ctest label
# (unit, integration, labs). Extra arguments go to ctest, e.g. -L unit.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j"$(nproc)" "$@"
