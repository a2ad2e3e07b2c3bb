#!/bin/bash
# 04-tproxy: a mangle-table TPROXY rule plus policy routing hand the client's connections,
# unchanged, to tplab proxy on the gateway. Nothing is rewritten: how does the proxy know?
#
#  +-----------------+      +-------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                    |      | tpl-server       |
#  |  curl :80       |      |  mangle PREROUTING                        |      |  HTTP :80        |
#  |  socat :8080    |      |   -m socket --transparent -j DIVERT       |      |  socat :8080     |
#  |                 |      |     (DIVERT: MARK 0x1, ACCEPT)            |      |  "served by      |
#  |                 |      |   -i veth-c --dports 80,8080 -j TPROXY    |      |   server"        |
#  |                 |      |     --on-port 15002 --tproxy-mark 0x1/0x1 |      |                  |
#  |                 |      |  ip rule fwmark 0x1/0x1 lookup 100        |      |                  |
#  |                 |      |  table 100: local 0.0.0.0/0 dev lo        |      |                  |
#  |                 |      |  tplab proxy --mode tproxy :15002         |      |                  |
#  |       eth0 [1]  |------| [2] veth-c                     veth-s [3] |------| [4] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1                    198.51.100.1 |      | 198.51.100.2     |
#  | 2001:db8:1::2   |      | 2001:db8:1::1               2001:db8:2::1 |      | 2001:db8:2::2    |
#  +-----------------+      +-------------------------------------------+      +------------------+
#   [1]..[4]: capture points (tplab capture), in path order
#
# TPROXY exists only in mangle PREROUTING. For a new connection's SYN it finds tplab's listener
# on port 15002 (opened with IP_TRANSPARENT), ties the packet to it and sets mark 0x1; the ip rule
# sends marked packets to table 100, whose "local" route makes every address local, so the SYN
# is delivered to this host instead of forwarded. Nothing is rewritten: the accepted socket's
# local address IS the server's address, and getsockname() is the original destination. There
# is no NAT, so no conntrack entry is needed (here, none exists: no rule in the gateway uses
# conntrack). The DIVERT chain is the kernel documentation's fast path: packets of connections
# that already have a transparent socket are marked and accepted before the TPROXY rule, so its
# counter shows only the SYNs. The server still sees the gateway: tplab connects upstream from its
# own address. Checks come from tplab report's JSON and addresses read from the kernels. IPv4
# and IPv6 both run (ip6tables, ip -6 rule, local ::/0), as tproxy-ipv4 and tproxy-ipv6; the
# proxy listens on 0.0.0.0:15002 and [::]:15002.
#
# Usage: sudo labs/04-tproxy.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       keep the run directories (pcaps, snapshots, events) and report.txt / report.json
#                   in DIR (default: a temp dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 5 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP. Docs: docs/labs/04-tproxy.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
setup_lab ip ss iptables ip6tables curl socat timeout python3

for family in "${lab_families[@]}"; do
    rundir=tproxy-$family
    section "TPROXY, $family: $rundir/"
    begin_run "$rundir" "$family"
    log "(the fast path: packets of connections that already have a transparent socket)"
    run "$ns_gw" "$ipt" -t mangle -N DIVERT
    run "$ns_gw" "$ipt" -t mangle -A DIVERT -j MARK --set-mark "$tproxy_mark"
    run "$ns_gw" "$ipt" -t mangle -A DIVERT -j ACCEPT
    run "$ns_gw" "$ipt" -t mangle -A PREROUTING -p tcp -m socket --transparent -j DIVERT
    log "(new connections: tie the SYN to the listener on $tproxy_port and mark it)"
    run "$ns_gw" "$ipt" -t mangle -A PREROUTING -i veth-c -p tcp -m multiport --dports "$lab_ports" \
        -j TPROXY --on-port "$tproxy_port" --tproxy-mark "$tproxy_mark/$tproxy_mark"
    log "(without these two the marked packet is dropped, silently: lab 09 measures it)"
    run "$ns_gw" ip "$ip_f" rule add fwmark "$tproxy_mark/$tproxy_mark" lookup "$tproxy_table"
    run "$ns_gw" ip "$ip_f" route add local "$any_net" dev lo table "$tproxy_table"
    start_proxy "$ns_gw" "$rundir" tproxy "0.0.0.0:$tproxy_port" "[::]:$tproxy_port"
    run_traffic "$rundir"
    log "the gateway's mangle PREROUTING counters ([packets:bytes]):"
    grep -E '^\[[0-9]+:[0-9]+\] -A (PREROUTING|DIVERT)' "$rundir/rules.txt" | lab_indent || true
    end_run "$rundir" 04-tproxy tproxy "TPROXY (mangle table)"
done

run_report "tplab report"

section "checks (from report.json and the kernels' own addresses)"
for rd in "${run_dirs[@]}"; do
    check_path "$rd" "the gateway (the proxy's own connection)"
    check_tproxy_interception "$rd"
    got=$(report_get "$rd" '[int(x[1:].split(":")[0]) for x in f["internals"]["rules"] if " TPROXY " in x]')
    want=$(report_get "$rd" '[len(r["flows"])]')
    check_eq "$rd: the TPROXY rule counted one packet per connection (the SYNs)" "$got" "$want"
    check_report "$rd" "the socket --transparent fast path took the rest" \
        'any(" -j DIVERT" in x for x in f["internals"]["rules"])' true
done

log ""
log "finished in ${SECONDS}s"
lab_exit
