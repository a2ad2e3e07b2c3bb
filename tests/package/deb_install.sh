#!/usr/bin/env bash
# The Debian package, as a class installs it: cpack -G DEB builds tplab_VERSION_ARCH.deb from
# BUILD_DIR, and the test checks its Depends (the shared libraries' packages and the labs' tools)
# and its files, installs it with apt-get install ./tplab_*.deb, then checks that
#   tplab --version works in a login shell (bash -lc), under sudo (secure_path) as root and as
#   nobody; man -w tplab finds /usr/share/man/man1/tplab.1; the kit is in /usr/share/doc/tplab;
#   tplab lab quickstart runs the installed lab with the installed tplab, from a scratch
#   directory, with a LAB_PREFIX of its own, and passes;
# then removes it (apt-get purge) and checks nothing of it is left. The machine is left as it was
# found on every exit: the package purged, and any package apt pulled in for it purged too.
# Skips (4) when not root, without apt-get/cpack/sudo/man, or with tplab already installed by dpkg.
# Usage: deb_install.sh BUILD_DIR. Exit 0 pass, 1 fail, 4 skip.
set -uo pipefail

build=$(readlink -f "${1:?usage: deb_install.sh BUILD_DIR}")
prefix="tplpkg$$"

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root (apt-get install, network namespaces)"
    exit 4
fi
for tool in apt-get dpkg dpkg-deb dpkg-shlibdeps cpack sudo man; do
    command -v "$tool" >/dev/null ||
        { echo "SKIP: no $tool (scripts/install-deps.sh installs it)"; exit 4; }
done
if dpkg-query -W -f='${Status}' tplab 2>/dev/null | grep -q 'ok installed'; then
    echo "SKIP: a tplab package is installed already (this test would remove it)"
    exit 4
fi

work=$(mktemp -d /tmp/tplab-package.XXXXXX)
chmod 755 "$work"
status=0
packages_before="$work/packages-before"
dpkg-query -W -f='${Package}:${Architecture}\n' | sort >"$packages_before"

fail() {
    echo "FAIL: $*"
    status=1
}
pass() {
    echo "PASS: $*"
}
# same WHAT GOT WANT
same() {
    if [ "$2" = "$3" ]; then pass "$1: $2"; else fail "$1: got '$2', want '$3'"; fi
}
our_namespaces() {
    ip netns list 2>/dev/null | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}'
}
# new_packages: the packages installed now that were not before the test.
new_packages() {
    dpkg-query -W -f='${Package}:${Architecture}\n' | sort | comm -13 "$packages_before" -
}

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    local ns added
    trap '' INT TERM HUP
    for ns in $(our_namespaces); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    added=$(new_packages | tr '\n' ' ')
    if [ -n "$added" ]; then
        echo "cleanup: purging $added"
        # shellcheck disable=SC2086  # one word per package
        DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq $added >/dev/null 2>&1 ||
            echo "cleanup: apt-get purge $added failed" >&2
    fi
    rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

echo "== build the package =="
version=$("$build/cli/tplab" --version) || { echo "FAIL: no $build/cli/tplab"; exit 1; }
arch=$(dpkg --print-architecture)
if ! cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out" >"$work/cpack.log" 2>&1; then
    tail -20 "$work/cpack.log"
    echo "FAIL: cpack -G DEB failed"
    exit 1
fi
deb="$work/out/tplab_${version#tplab }_$arch.deb"
if [ ! -f "$deb" ]; then
    ls "$work/out"
    echo "FAIL: no $(basename "$deb") in cpack's output"
    exit 1
fi
pass "cpack wrote $(basename "$deb") ($(($(stat -c %s "$deb") / 1024)) KiB)"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
for want in libpcap0.8 libbpf1 libcap2 libc6 libstdc++6 iproute2 iptables nftables conntrack curl \
    socat python3 tcpdump; do
    [[ ", $depends," == *", $want"[\ ,]* ]] || fail "Depends has no $want"
done
dpkg-deb -c "$deb" | awk '{print $NF}' >"$work/files"
for want in ./usr/bin/tplab ./usr/share/man/man1/tplab.1 ./usr/share/tplab/labs/quickstart.sh \
    ./usr/share/tplab/labs/lib.sh ./usr/share/tplab/labs/lib/jobs.sh \
    ./usr/share/tplab/labs/exercises/common.sh ./usr/share/doc/tplab/teaching/run-sheet.md; do
    grep -qxF "$want" "$work/files" || fail "the package has no $want"
done
[ "$status" -eq 0 ] && pass "Depends and files as expected ($(wc -l <"$work/files") entries)"

echo "== apt-get install ./$(basename "$deb") =="
if ! (cd "$work/out" && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "./$(basename "$deb")") >"$work/apt.log" 2>&1; then
    tail -20 "$work/apt.log"
    echo "FAIL: apt-get install failed"
    exit 1
fi
pass "apt-get installed it (pulled in: $(new_packages | grep -v '^tplab:' | tr '\n' ' ')none else)"

# Where tplab is found depends on PATH; /usr/local/bin (a cmake --install) would come first.
want_bin=/usr/bin/tplab
[ -x /usr/local/bin/tplab ] && want_bin=/usr/local/bin/tplab
# (stdout only: a login shell also reads the machine's dotfiles, which may complain on stderr)
same "a login shell finds" "$(cd / && env -i HOME="$HOME" bash -lc 'command -v tplab' 2>/dev/null)" \
    "$want_bin"
same "tplab --version in a login shell" \
    "$(cd / && env -i HOME="$HOME" bash -lc 'tplab --version' 2>/dev/null)" "$version"
same "sudo tplab --version" "$(cd / && sudo tplab --version 2>&1)" "$version"
same "sudo -u nobody tplab --version" "$(cd / && sudo -u nobody tplab --version 2>&1)" "$version"
same "sudo -u nobody, login shell" \
    "$(cd / && sudo -u nobody env -i bash -lc 'tplab --version' 2>/dev/null)" "$version"
same "man -w tplab" "$(man -w tplab 2>&1)" /usr/share/man/man1/tplab.1
if MANWIDTH=100 man -P cat tplab 2>/dev/null | grep -q 'tplab lab'; then
    pass "man tplab renders, and documents tplab lab"
else
    fail "man tplab does not render, or does not mention tplab lab"
fi
same "/usr/bin/tplab lab --list has quickstart" \
    "$(/usr/bin/tplab lab --list 2>&1 | grep -cx quickstart)" 1

echo "== tplab lab quickstart, the installed copy, from a scratch directory =="
mkdir "$work/scratch"
(cd "$work/scratch" && env -u TPLAB LAB_PREFIX="$prefix" PATH=/usr/sbin:/usr/bin:/sbin:/bin \
    timeout -k 5 120 /usr/bin/tplab lab quickstart) </dev/null >"$work/lab.out" 2>&1
rc=$?
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/lab.out" | tail -1)
if [ "$rc" -eq 0 ] && [[ "$summary" =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]] &&
    grep -q '^using tplab: /usr/bin/tplab$' "$work/lab.out"; then
    pass "tplab lab quickstart (/usr/share/tplab/labs, /usr/bin/tplab): $summary"
elif [ "$rc" -eq 4 ]; then
    echo "SKIP: the quickstart skipped: $(grep -m1 'SKIP' "$work/lab.out")"
    exit 4
else
    tail -30 "$work/lab.out"
    fail "tplab lab quickstart: exit $rc, '${summary:-no summary}', want 0 failed with /usr/bin/tplab"
fi
[ -z "$(ls -A "$work/scratch")" ] || fail "the lab left files in its working directory"

echo "== apt-get purge tplab =="
if ! DEBIAN_FRONTEND=noninteractive apt-get purge -y -q tplab >"$work/purge.log" 2>&1; then
    tail -20 "$work/purge.log"
    fail "apt-get purge tplab failed"
fi
left=""
for path in /usr/bin/tplab /usr/share/man/man1/tplab.1 /usr/share/tplab /usr/share/doc/tplab; do
    [ -e "$path" ] && left+=" $path"
done
dpkg-query -W -f='${Status}' tplab 2>/dev/null | grep -q 'installed' && left+=" (dpkg: tplab)"
[ -n "$(our_namespaces)" ] && left+=" namespaces $(our_namespaces | tr '\n' ' ')"
if [ -z "$left" ]; then
    pass "purged: no file of the package, no namespace $prefix-* left"
else
    fail "left behind:$left"
fi
exit "$status"
