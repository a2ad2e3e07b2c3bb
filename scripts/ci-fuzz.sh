#!/usr/bin/env bash
# CI stage: the libFuzzer targets of tests/fuzz, built with clang in build-fuzz (ASan + UBSan).
# Each target first replays its corpus (tests/fuzz/corpus/TARGET, the crashes found so far
# included), then is fuzzed for FUZZ_SECONDS (default 30) starting from it. A crash fails the
# stage; its input is saved in build-fuzz/crashes/TARGET/: add it to the corpus once fixed.
# Eleven targets x 30 s, two at a time, keeps the stage as long as six x 60 s did (~3 min).
# Usage: scripts/ci-fuzz.sh [TARGET...]   (default: every target)
set -euo pipefail
cd "$(dirname "$0")/.."

: "${FUZZ_SECONDS:=30}"
all_targets=(packet report endpoint cli rule_plan datagram_destination
    socks5_server socks5_client http_connect proxy_protocol events)
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=("${all_targets[@]}")

header() { printf '\n==== %s ====\n' "$*"; }

header "fuzz: build with clang (build-fuzz)"
start=$SECONDS
launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
CC=clang CXX=clang++ cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTPLAB_FUZZ=ON \
    "${launcher[@]}" >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target "${targets[@]/%/_fuzzer}"
echo "build-fuzz: $((SECONDS - start)) s"

# One target: replay its corpus, then fuzz it. Prints one PASS/FAIL block; exit 1 on a finding.
fuzz_one() {
    local target=$1 start=$SECONDS
    local binary=build-fuzz/tests/fuzz/${target}_fuzzer
    local corpus=tests/fuzz/corpus/$target
    local crashes=build-fuzz/crashes/$target
    local scratch=build-fuzz/new-corpus/$target  # what it finds new; the repo's corpus stays as is
    mkdir -p "$crashes" "$scratch"
    if ! "$binary" -runs=0 "$corpus" >"build-fuzz/$target-replay.log" 2>&1; then
        echo "FAIL: $target: an input of $corpus crashes"
        tail -60 "build-fuzz/$target-replay.log"
        return 1
    fi
    if "$binary" "$scratch" "$corpus" -max_total_time="$FUZZ_SECONDS" -timeout=10 \
        -rss_limit_mb=2048 -artifact_prefix="$crashes/" -print_final_stats=1 \
        >"build-fuzz/$target.log" 2>&1; then
        echo "PASS: $target: $(grep -o 'stat::number_of_executed_units: *[0-9]*' \
            "build-fuzz/$target.log" | grep -o '[0-9]*$') runs, no crash ($((SECONDS - start)) s)"
    else
        echo "FAIL: $target: crash, input in $crashes/"
        grep -A40 '==ERROR\|runtime error\|fuzz check failed\|deadly signal' \
            "build-fuzz/$target.log" | head -80
        return 1
    fi
}

# libFuzzer runs one process per target: as many targets at once as there are CPUs, each for
# its full FUZZ_SECONDS, each printing its block when done.
header "fuzz: ${targets[*]} (${FUZZ_SECONDS} s each, $(nproc) at a time)"
failed=()
declare -A running=()
for target in "${targets[@]}"; do
    while [[ ${#running[@]} -ge $(nproc) ]]; do
        wait -n -p done_pid || true
        for pid in "${!running[@]}"; do
            kill -0 "$pid" 2>/dev/null && continue
            wait "$pid" || failed+=("${running[$pid]}")
            cat "build-fuzz/${running[$pid]}.result"
            unset "running[$pid]"
        done
    done
    fuzz_one "$target" >"build-fuzz/$target.result" 2>&1 &
    running[$!]=$target
done
for pid in "${!running[@]}"; do
    wait "$pid" || failed+=("${running[$pid]}")
    cat "build-fuzz/${running[$pid]}.result"
done
if [[ ${#failed[@]} -gt 0 ]]; then
    header "FAILED: ${failed[*]}"
    exit 1
fi
header "fuzz: no crash (${targets[*]}, ${FUZZ_SECONDS} s each)"
