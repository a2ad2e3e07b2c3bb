#!/usr/bin/env bash
# The main job: installs what the labs need, builds tplab and installs it (/usr/local/bin/tplab),
# then runs a lab (default: compare, REDIRECT and TPROXY side by side with captures at every hop).
# Usage: scripts/lab.sh [LAB] [LAB OPTIONS]   e.g. scripts/lab.sh 04-tproxy --ipv6
# Needs root: run as root, or as a user with sudo (it asks sudo itself only when it is not root).
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

labs=""
for file in labs/*.sh; do
    name=${file##*/}
    [ "$name" = lib.sh ] || labs+="${labs:+ }${name%.sh}"
done
lab="${1:-compare}"
shift || true
if [ "$lab" = "-h" ] || [ "$lab" = "--help" ]; then
    sed -n '2,5s/^# \{0,1\}//p' "$self"
    echo "Labs: $labs" | fold -s -w 100
    exit 0
fi
if [ ! -x "labs/$lab.sh" ] || [ "$lab" = lib ]; then
    echo "lab.sh: no lab named '$lab' (have: $labs)" | fold -s -w 100 >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null; then
        echo "lab.sh: needs root, and there is no sudo: run it as root (su -c '$self $lab')" >&2
        exit 1
    fi
    # sudo drops the environment: hand on the labs' settings (LAB_PAUSE, LAB_OUTPUT, TPLAB...).
    settings=()
    while IFS='=' read -r name _; do
        settings+=("$name=${!name}")
    done < <(env | grep -E '^(LAB_[A-Z_]*|TPLAB)=' || true)
    exec sudo -- env "${settings[@]}" "$self" "$lab" "$@"
fi

log=build/lab-build.log
mkdir -p build
echo "[1/3] installing the Debian packages the labs need (scripts/install-deps.sh --labs;"
echo "      the first time this downloads for a few minutes)"
scripts/install-deps.sh --labs
echo "[2/3] building tplab into build/ and installing it (cmake --install build: tplab on PATH,"
echo "      man tplab, tplab lab NAME; compiler output in $log; the first time: minutes)"
if [ ! -f build/CMakeCache.txt ]; then
    # Only tplab: the tests need packages the labs do not (scripts/build.sh builds them all).
    cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTPLAB_BUILD_TESTS=OFF >"$log" 2>&1 ||
        { tail -20 "$log"; echo "lab.sh: cmake failed, see $log" >&2; exit 1; }
fi
if ! cmake --build build -j"$(nproc)" --target tplab >>"$log" 2>&1; then
    tail -20 "$log"
    echo "lab.sh: the build failed, see $log" >&2
    exit 1
fi
echo "      built $(build/cli/tplab --version 2>/dev/null || echo build/cli/tplab)"
if ! cmake --install build >>"$log" 2>&1; then
    tail -20 "$log"
    echo "lab.sh: cmake --install build failed, see $log" >&2
    exit 1
fi
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' build/CMakeCache.txt)
echo "      installed ${prefix:-/usr/local}/bin/tplab (and its man page, and the labs for tplab lab)"
echo "[3/3] running labs/$lab.sh $* (it shows each command before it runs it)" | fold -s -w 100
exec "labs/$lab.sh" "$@"
