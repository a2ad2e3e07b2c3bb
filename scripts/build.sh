#!/usr/bin/env bash
# Configures and builds tplab (and its tests) into build/. CI=true turns warnings into errors.
set -euo pipefail
cd "$(dirname "$0")/.."

werror=OFF
[ "${CI:-}" = "true" ] && werror=ON
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTPLAB_WERROR="$werror" -DTPLAB_BUILD_TESTS=ON \
    "${launcher[@]}" >/dev/null
cmake --build build -j"$(nproc)"
