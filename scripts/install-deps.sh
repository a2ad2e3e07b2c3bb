#!/usr/bin/env bash
# Installs the Debian 12 packages tplab needs to build, test and run its labs.
# --labs: only what building tplab and running the labs needs (scripts/lab.sh uses it).
# Idempotent: does nothing when everything is there (unless CI=true: then apt is always asked).
set -euo pipefail

lab_packages=(
    # build (tplab itself)
    g++ cmake make pkg-config
    libcli11-dev nlohmann-json3-dev libpcap-dev libcap-dev
    # the sk-lookup backend's BPF program: clang -target bpf, bpftool's skeleton, libbpf
    clang bpftool libbpf-dev
    # labs and tests: namespaces, rules, real clients and servers
    iproute2 iptables nftables conntrack procps util-linux
    curl socat python3 tcpdump dnsmasq-base bind9-dnsutils
    microsocks  # the next SOCKS5 proxy of --upstream socks5:// (labs/05b, tests)
    nginx-light  # a server that reads the PROXY protocol (labs/06b, tests); the bench's too
)
test_packages=(
    # build (the GoogleTest suites)
    libgtest-dev libgmock-dev
    # bench/: load generators, servers and the reference proxy
    iperf3 wrk sockperf haproxy
    # checks: the Vagrantfile's syntax, the HTML report in a real headless browser
    ruby chromium
    sudo  # scripts/lab.sh run by a user with sudo (tests/labs/lab_sh_as_sudo_user.sh)
    # scripts/package.sh: cpack's Debian package asks dpkg-shlibdeps for its Depends; the
    # package test reads the man page it installs (tests/package/deb_install.sh)
    dpkg-dev man-db
    # CI's extra stages: valgrind, and clang with libFuzzer's runtime for tests/fuzz
    valgrind libclang-rt-14-dev ccache
    # the Debian 12 VM (scripts/vm/build-box.sh, scripts/vm-test.sh; ctest -L '^vm-quick$')
    mmdebstrap qemu-system-x86 qemu-utils e2fsprogs openssh-client
)
packages=("${lab_packages[@]}" "${test_packages[@]}")
[ "${1:-}" = "--labs" ] && packages=("${lab_packages[@]}")

if [ "$(id -u)" -ne 0 ]; then
    echo "install-deps: run as root (sudo $0)" >&2
    exit 1
fi

missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" ||
        missing+=("$package")
done

# CI asks apt every time (once per run: .ci/run sets TPLAB_DEPS_INSTALLED after the first).
if [ "${#missing[@]}" -eq 0 ] && { [ "${CI:-}" != "true" ] || [ "${TPLAB_DEPS_INSTALLED:-}" = 1 ]; }; then
    exit 0
fi
echo "install-deps: installing ${missing[*]:-${packages[*]}}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
