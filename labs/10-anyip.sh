#!/bin/bash
# 10-anyip: no netfilter at all. A policy-routing rule sends the client's connections for ports
# 80 and 8080 to a table whose "local" route says every address is this host's; tplab proxy's
# transparent listeners on those very ports accept them. What does the kernel hold this time?
#
#  +-----------------+      +-------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                    |      | tpl-server       |
#  |  curl :80       |      |  ip rule iif veth-c ipproto tcp dport 80  |      |  HTTP :80        |
#  |  socat :8080    |      |          lookup 100 (and dport 8080)      |      |  socat :8080     |
#  |                 |      |  table 100: local 0.0.0.0/0 dev lo        |      |  "served by      |
#  |                 |      |  (no iptables, no nft, no mark)           |      |   server"        |
#  |                 |      |  tplab proxy --mode tproxy                |      |                  |
#  |                 |      |    0.0.0.0:80, 0.0.0.0:8080 (and [::])    |      |                  |
#  |       eth0 [1]  |------| [2] veth-c                     veth-s [3] |------| [4] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1                    198.51.100.1 |      | 198.51.100.2     |
#  | 2001:db8:1::2   |      | 2001:db8:1::1               2001:db8:2::1 |      | 2001:db8:2::2    |
#  +-----------------+      +-------------------------------------------+      +------------------+
#   [1]..[4]: capture points (tplab capture), in path order
#
# AnyIP: a `local` route makes the kernel treat addresses as its own. Here it lives in table 100,
# which only the client's connections to the two ports look up (the kernel reads the ports for
# the ip rule), so the SYN for 198.51.100.2:80 is delivered locally, unchanged, to the socket
# listening on port 80: the proxy's. Nothing rewrites the port, so the proxy listens on the
# intercepted ports themselves, not on a proxy port. Its listeners need IP_TRANSPARENT all the
# same: the SYN-ACK leaves from 198.51.100.2, which is not an address of this host outside table
# 100, and a plain listener's SYNs are dropped (counted as TcpExtListenDrops; the second part
# shows it). The gateway's own connections never look up table 100, so the proxy's upstream
# connection to the real server is routed as usual. No rule uses conntrack, so the gateway's
# table stays empty. IPv4 and IPv6 both run, as anyip-ipv4 and anyip-ipv6.
#
# Usage: sudo labs/10-anyip.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       keep the run directories (pcaps, snapshots, events) and report.txt / report.json
#                   in DIR (default: a temp dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 15 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP. Docs: docs/labs/10-anyip.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
setup_lab ip ss curl socat timeout python3 nstat conntrack

# listen_drops NS: the namespace's TcpExtListenDrops counter.
listen_drops() {
    ip netns exec "$1" nstat -az TcpExtListenDrops | awk '$1 == "TcpExtListenDrops" { print $2 }'
}

for family in "${lab_families[@]}"; do
    rundir=anyip-$family
    section "AnyIP, $family: $rundir/"
    begin_run "$rundir" "$family"
    log "(the client's connections to the two ports look up table $tproxy_table; nothing else does)"
    for port in $lab_http_port $lab_hold_port; do
        run "$ns_gw" ip "$ip_f" rule add iif veth-c ipproto tcp dport "$port" lookup "$tproxy_table"
    done
    run "$ns_gw" ip "$ip_f" route add local "$any_net" dev lo table "$tproxy_table"
    log "(the proxy listens on the intercepted ports themselves: nothing rewrites them)"
    start_proxy "$ns_gw" "$rundir" tproxy "0.0.0.0:$lab_http_port" "[::]:$lab_http_port" \
        "0.0.0.0:$lab_hold_port" "[::]:$lab_hold_port"
    run_traffic "$rundir"
    show_firewall "$ns_gw" "$rundir"
    log "the gateway's conntrack table: $(ip netns exec "$ns_gw" conntrack -C) entries"
    log "what steered the connection, the policy rules and table $tproxy_table:"
    grep -E "lookup $tproxy_table|^local" "$rundir/rules.txt" | lab_indent || true
    end_run "$rundir" 10-anyip anyip "AnyIP (ip rule + local route, no netfilter)"
done

section "a plain listener cannot answer for another host's address (IPv4)"
rundir=anyip-plain-ipv4
fresh_rundir "$rundir"
use_family ipv4
build_topology
start_lab_servers "$ns_server" "$rundir"
run "$ns_gw" ip -4 rule add iif veth-c ipproto tcp dport "$lab_http_port" lookup "$tproxy_table"
run "$ns_gw" ip -4 route add local 0.0.0.0/0 dev lo table "$tproxy_table"
log "(socat listens on port 80 WITHOUT IP_TRANSPARENT)"
start_bg "$ns_gw" "$rundir/plain.log" socat "TCP-LISTEN:$lab_http_port,reuseaddr,fork" SYSTEM:'echo plain'
plain_pid=$bg_pid
wait_listening "$ns_gw" "$lab_http_port" || die "socat did not listen on $lab_http_port"
drops_before=$(listen_drops "$ns_gw")
run "$ns_client" curl -sS --max-time 3 "http://$server_ip/" || true
drops_after=$(listen_drops "$ns_gw")
log "the gateway's TcpExtListenDrops: $drops_before before, $drops_after after"
stop_bg "$plain_pid" || true
plain_drops=$((drops_after - drops_before))
teardown_ns "${lab_ns_list[@]}"

run_report "tplab report"

section "checks (from report.json and the kernels)"
for rd in "${run_dirs[@]}"; do
    check_path "$rd" "the gateway (the proxy's own connection)"
    check_tproxy_interception "$rd"
    got=$(grep -cE '^-A |^[[:space:]]+chain ' "$rd/firewall.txt" || true)
    check_eq "$rd: no iptables rule and no nft chain in the gateway" "$got" 0
    check_report "$rd" "the report found no rule that matched" 'len(f["internals"]["rules"])' 0
    got=$(grep -cE "iif veth-c ipproto tcp dport ($lab_http_port|$lab_hold_port) lookup $tproxy_table" \
        "$rd/rules.txt" || true)
    check_eq "$rd: the two ip rules were in place" "$got" 2
    got=$(grep -cv '^$' "$rd/conntrack.txt" || true)
    check_eq "$rd: the gateway's conntrack table was empty" "$got" 0
done
check "the plain listener's SYNs were dropped as listen drops ($plain_drops)" test "$plain_drops" -gt 0

log ""
log "finished in ${SECONDS}s"
lab_exit
