#!/usr/bin/env bash
# Builds the Debian package of tplab, tplab_VERSION_ARCH.deb (cmake/package.cmake): tplab in
# /usr/bin, its man page, the labs in /usr/share/tplab/labs (tplab lab NAME), docs/ in
# /usr/share/doc/tplab; Depends from dpkg-shlibdeps plus the labs' tools. Configures BUILD_DIR
# when it is not (Release, no tests), builds what it lacks, then cpack -G DEB. Prints the path.
# Install it with: sudo apt install ./tplab_VERSION_ARCH.deb   (remove: sudo apt remove tplab)
# Usage: scripts/package.sh [--out DIR] [BUILD_DIR]   (defaults: BUILD_DIR=build, DIR=BUILD_DIR)
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."

out="" build=""
while (($# > 0)); do
    case "$1" in
    --out)
        (($# >= 2)) || { echo "package.sh: --out needs a directory" >&2; exit 2; }
        out=$2
        shift
        ;;
    -h | --help)
        sed -n '2,7s/^# \{0,1\}//p' "$0"
        exit 0
        ;;
    -*) echo "package.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *)
        [[ -z "$build" ]] || { echo "package.sh: one BUILD_DIR only (see --help)" >&2; exit 2; }
        build=$1
        ;;
    esac
    shift
done
build=${build:-build}
out=${out:-$build}

for tool in cmake cpack dpkg-deb dpkg-shlibdeps; do
    command -v "$tool" >/dev/null ||
        { echo "package.sh: no $tool (Debian: apt-get install cmake dpkg-dev)" >&2; exit 1; }
done
if [[ ! -f "$build/CMakeCache.txt" ]]; then
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DTPLAB_BUILD_TESTS=OFF >/dev/null
fi
# What the package holds: tplab and its man page (cpack builds nothing itself: cmake/install.cmake).
cmake --build "$build" -j"$(nproc)" --target tplab >/dev/null
mkdir -p "$out"
out=$(readlink -f "$out")
log="$out/cpack.log"
if ! cpack -G DEB --config "$build/CPackConfig.cmake" -B "$out" >"$log" 2>&1; then
    tail -20 "$log"
    echo "package.sh: cpack failed, see $log" >&2
    exit 1
fi
deb=$(sed -n 's/^CPack: - package: \(.*\.deb\) generated\.$/\1/p' "$log" | tail -1)
[[ -f "$deb" ]] || { echo "package.sh: cpack said nothing of a .deb, see $log" >&2; exit 1; }
echo "$deb"
