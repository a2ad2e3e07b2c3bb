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

readonly redirect_port=15001

parse_lab_args "$@"
require_root
require_tool ip ss iptables ip6tables curl socat timeout python3 conntrack
use_tplab
report_available || skip "this tplab has no 'report' command: rebuild it (cmake --build build)"
init_workdir
log "run directories and logs: $lab_work"
log "commands are shown as [ns] # CMD; to type one yourself: ip netns exec ${LAB_PREFIX}-<ns> CMD"

run_dirs=()
for family in "${lab_families[@]}"; do
    rundir=redirect-$family
    section "REDIRECT, $family: $rundir/"
    begin_run "$rundir" "$family"
    run "$ns_gw" "$ipt" -t nat -A PREROUTING -i veth-c -p tcp -m multiport \
        --dports "$lab_http_port,$lab_hold_port" -j REDIRECT --to-ports "$redirect_port"
    start_proxy "$ns_gw" "$rundir" redirect "[::]:$redirect_port"
    capture_traffic "$rundir" "$ns_gw"
    record_gateway_state "$ns_gw" "$rundir"
    log "the gateway's conntrack entries for the client's connections (ORIGINAL tuple, then REPLY tuple):"
    grep -F "src=$client_ip " "$rundir/conntrack.txt" | sed 's/^/    /' || true
    stop_proxy "$rundir"
    write_meta "$rundir" 02-redirect redirect "REDIRECT (nat table), $fam_name" "$family" client,gateway,server
    read_run_facts "$rundir"
    run_dirs+=("$rundir")
    pause_here
    teardown_ns "$ns_client" "$ns_gw" "$ns_server"
done

section "tplab report"
run_report . "${run_dirs[@]}"

section "checks (from report.json and the kernels' own addresses)"
get() {
    report_get report.json "$@"
}
for rd in "${run_dirs[@]}"; do
    check_path report.json "$rd" "the gateway (the proxy's own connection)"
    srv80=$(endpoint "${run_fact[$rd,server]}" "$lab_http_port")
    want=$(endpoint "${run_fact[$rd,gw_in]}" "$redirect_port")
    got=$(get "$rd" 'f["internals"]["accepted_local"]')
    check_eq "$rd: the accepted socket's local address is the gateway's veth-c address and the proxy port" \
        "$got" "$want"
    got=$(get "$rd" 'ss_local(h["internals"]["socket"])')
    check_eq "$rd: ss, while the held connection is open, shows the same local address" "$got" "$want"
    got=$(get "$rd" 'f["internals"]["nat"]["present"]')
    check_eq "$rd: conntrack holds a NAT mapping for the flow" "$got" true
    got=$(get "$rd" 'ct_tuples(f["internals"]["nat"]["entry"])[1][0]')
    check_eq "$rd: its REPLY tuple comes from the gateway's address and the proxy port" "$got" "$want"
    got=$(get "$rd" 'ct_tuples(f["internals"]["nat"]["entry"])[0][1]')
    check_eq "$rd: its ORIGINAL tuple still goes to the server" "$got" "$srv80"
    got=$(get "$rd" 'f["internals"]["original_dst"]')
    check_eq "$rd: the proxy recovered the server as original destination" "$got" "$srv80"
    got=$(get "$rd" 'f["internals"]["recovered_by"]')
    check_contains "$rd: with a conntrack lookup ($got)" "$got" SO_ORIGINAL_DST
    got=$(get "$rd" 'any(" -t nat " in x and " REDIRECT " in x for x in f["internals"]["rules"])')
    check_eq "$rd: the nat REDIRECT rule's counter moved" "$got" true
done

log ""
log "finished in ${SECONDS}s"
lab_exit
