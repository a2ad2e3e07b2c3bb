#!/bin/bash
# 02-redirect: a nat-table REDIRECT rule hands the client's connections to tplab proxy on the
# gateway; the proxy asks conntrack where they were going. What does each hop, and the kernel, see?
#
#  +-----------------+      +------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                   |      | tpl-server       |
#  |  curl :80       |      |  nat PREROUTING -i veth-c                |      |  HTTP :80        |
#  |  socat :8080    |      |    -p tcp --dports 80,8080               |      |  socat :8080     |
#  |                 |      |    -j REDIRECT --to-ports 15001          |      |  "served by      |
#  |                 |      |  tplab proxy --mode redirect [::]:15001  |      |   server"        |
#  |       eth0 [1]  |------| [2] veth-c                    veth-s [3] |------| [4] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1                   198.51.100.1 |      | 198.51.100.2     |
#  | 2001:db8:1::2   |      | 2001:db8:1::1              2001:db8:2::1 |      | 2001:db8:2::2    |
#  +-----------------+      +------------------------------------------+      +------------------+
#   [1]..[4]: capture points (tplab capture), in path order
#
# REDIRECT is destination NAT to the primary address of the interface the packet came in on
# (here veth-c, 192.0.2.1 / 2001:db8:1::1) and the given port. The client's packets still carry
# the server's address on the wire: the rewrite happens inside the gateway, in PREROUTING, after
# capture point [2]. Conntrack records the connection before the rewrite, so its ORIGINAL tuple
# still says 198.51.100.2:80 while its REPLY tuple says 192.0.2.1:15001; the proxy's accepted
# socket is bound to 192.0.2.1:15001, and getsockopt(SO_ORIGINAL_DST) (IP6T_SO_ORIGINAL_DST for
# IPv6) reads the destination back from that conntrack entry. The proxy then opens its own
# connection to the server, so the server sees the gateway's 198.51.100.1. Every check comes from
# tplab report's JSON (captures, the proxy's events, the gateway's conntrack/ss/iptables
# snapshots) compared with addresses read from the kernels. IPv4 and IPv6 both run (one dual-stack
# [::]:15001 listener serves both), as separate runs: redirect-ipv4, redirect-ipv6.
#
# Usage: sudo labs/02-redirect.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       keep the run directories (pcaps, snapshots, events) and report.txt / report.json
#                   in DIR (default: a temp dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 5 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP. Docs: docs/labs/02-redirect.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
setup_lab ip ss iptables ip6tables curl socat timeout python3 conntrack

for family in "${lab_families[@]}"; do
    rundir=redirect-$family
    section "REDIRECT, $family: $rundir/"
    begin_run "$rundir" "$family"
    apply_rules "$ns_gw" --mode redirect --port "$redirect_port" --dport "$lab_ports" \
        --in-interface veth-c "--$family"
    start_proxy "$ns_gw" "$rundir" redirect "[::]:$redirect_port"
    run_traffic "$rundir"
    show_client_conntrack "$rundir"
    end_run "$rundir" 02-redirect redirect "REDIRECT (nat table)"
done

run_report "tplab report"

section "checks (from report.json and the kernels' own addresses)"
for rd in "${run_dirs[@]}"; do
    check_path "$rd" "the gateway (the proxy's own connection)"
    want=$(endpoint "${run_fact[$rd,gw_in]}" "$redirect_port")
    check_nat_interception "$rd" "$want" REDIRECT "the gateway's veth-c address and the proxy port"
done

log ""
log "finished in ${SECONDS}s"
lab_exit
