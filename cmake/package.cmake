# The Debian package: `cpack -G DEB` in the build directory (or scripts/package.sh, which builds
# first) writes tplab_VERSION_ARCH.deb with what cmake/install.cmake installs, under /usr. Only
# the build machine's architecture (amd64 here): a foreign one needs a cross toolchain and that
# architecture's libpcap/libbpf/libcap, which scripts/install-deps.sh does not install.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tplab)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "tplab maintainers <tplab@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "teach, compare and run transparent proxies on Linux (REDIRECT, TPROXY)")
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
    "tplab teaches and compares the two ways Linux hands a transparent proxy its traffic\n\
(REDIRECT/DNAT in the nat table, TPROXY in the mangle table), and is such a proxy.\n\
It comes with labs in throwaway network namespaces (tplab lab --list), the rules each\n\
mode needs (tplab rules), a doctor for the silent failures (tplab doctor), and the\n\
instructor's kit in /usr/share/doc/tplab/teaching.")
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # tplab_0.1.0_amd64.deb
set(CPACK_STRIP_FILES ON)  # the debug info stays in the build (tplab: 58 MB with it, 1.7 MB without)
# The shared libraries (libpcap0.8, libbpf1, libcap2, libstdc++6, libc6) from dpkg-shlibdeps;
# the rest is what the labs run (each lab checks its tools and skips, exit 4, without them).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS
    "iproute2, iptables, nftables, conntrack, procps, curl, socat, python3, tcpdump")
# Only some labs: the DNS of labs/07, the SOCKS5 upstream of 05b, the PROXY-protocol
# server of 06b, bpftool in 11 (it shows the sk_lookup link).
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS
    "dnsmasq-base, bind9-dnsutils, microsocks, nginx-light, bpftool, man-db")
include(CPack)
