#!/bin/bash
# 05-remote-proxy: the proxy runs on a separate box beside the gateway. (A) DNAT to it loses the
# original destination; (B) policy routing to it, plus TPROXY on the proxy box, keeps it.
#
#  +---------------+     +-------------------------------+     +------------------+
#  | tpl-client    |     | tpl-gw                        |     | tpl-server       |
#  |  curl :80     |     | (A) nat DNAT to 203.0.113.2:  |     |  HTTP :80        |
#  |  socat :8080  |     |     15001                     |     |  socat :8080     |
#  |               |     | (B) mangle MARK 0x2, ip rule  |     |  "served by      |
#  |               |     |     fwmark 0x2 lookup 200:    |     |   server"        |
#  |               |     |     default via 203.0.113.2   |     |                  |
#  |     eth0 [1]  |-----| [2] veth-c         veth-s [5] |-----| [6] eth0         |
#  | 192.0.2.2     |     | 192.0.2.1       198.51.100.1  |     | 198.51.100.2     |
#  | 2001:db8:1::2 |     | 2001:db8:1::1   2001:db8:2::1 |     | 2001:db8:2::2    |
#  +---------------+     |         veth-p [3]            |     +------------------+
#                        |   203.0.113.1, 2001:db8:3::1  |
#                        +--------------|----------------+
#                        +--------------|----------------+
#                        | tpl-proxy   eth0 [4]          |
#                        |   203.0.113.2, 2001:db8:3::2  |
#                        | (A) tplab proxy --mode        |
#                        |     redirect [::]:15001       |
#                        | (B) mangle TPROXY :15002,     |
#                        |     fwmark 0x1 -> local route |
#                        |     tplab proxy --mode tproxy |
#                        +-------------------------------+
#   [1]..[6]: capture points in path order: client:eth0, gateway:veth-c, gateway:veth-p,
#   proxy:eth0, gateway:veth-s, server:eth0 (the proxy's upstream goes back through the gateway)
#
# (A) The gateway DNATs the client's connections to the proxy box, 203.0.113.2:15001, and the
# proxy box runs tplab in redirect mode. The captures show the REWRITTEN destination on the
# gateway->proxy wire: the original destination is now only in the gateway's conntrack table.
# On the proxy box, SO_ORIGINAL_DST has nothing to find: that namespace tracks no connections, so
# the call fails (ENOENT) and tplab resets the client with reason not_redirected. (With conntrack
# active on the proxy box, it would return the box's own listener and tplab would refuse the loop
# with loop_refused; either way the destination is lost.) (B) The gateway marks the same
# connections in mangle PREROUTING, and an ip rule sends marked packets to a table whose default
# route is the proxy box: the packets are routed, not rewritten, so the destination is intact on
# the gateway->proxy wire. The proxy box intercepts them with TPROXY, takes the destination from
# getsockname() and relays to the server through the gateway; the server sees the proxy box.
# The gateway relaxes rp_filter: the proxy box answers the client as 198.51.100.2 from veth-p,
# while the route back to 198.51.100.2 points out of veth-s. Checks come from tplab report's JSON
# and the proxy's events, compared with addresses read from the kernels. IPv4 and IPv6 both run
# (runs remote-dnat-ipv4, remote-route-ipv4, remote-dnat-ipv6, remote-route-ipv6).
#
# Usage: sudo labs/05-remote-proxy.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       keep the run directories (pcaps, snapshots, events) and report.txt / report.json
#                   in DIR (default: a temp dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 7 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP. Docs: docs/labs/05-remote-proxy.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

readonly route_mark=0x2
readonly route_table=200

parse_lab_args "$@"
setup_lab ip ss iptables ip6tables curl socat timeout python3 conntrack

declare -A fact   # "RUNDIR,name": what the proxy box said (events, conntrack), read from RUNDIR

# part_a: DNAT on the gateway to the proxy box; redirect mode on the proxy box.
part_a() {
    local target
    target=$(endpoint "$proxy_ip" "$redirect_port")
    run "$ns_gw" "$ipt" -t nat -A PREROUTING -i veth-c -p tcp -m multiport --dports "$lab_ports" \
        -j DNAT --to-destination "$target"
    start_proxy "$ns_proxy" "$1" redirect "[::]:$redirect_port"
}

# part_b: policy routing on the gateway to the proxy box; TPROXY on the proxy box.
part_b() {
    log "(gateway: mark the client's port 80/8080 traffic and route marked packets to the proxy box)"
    run "$ns_gw" "$ipt" -t mangle -A PREROUTING -i veth-c -p tcp -m multiport --dports "$lab_ports" \
        -j MARK --set-mark "$route_mark"
    run "$ns_gw" ip "$ip_f" rule add fwmark "$route_mark" lookup "$route_table"
    run "$ns_gw" ip "$ip_f" route add default via "$proxy_ip" dev veth-p table "$route_table"
    if [[ "$fam" == ipv4 ]]; then
        log "(the proxy box answers as the server from veth-p: a loose reverse-path check lets that in)"
        run "$ns_gw" sysctl -w net.ipv4.conf.all.rp_filter=2 net.ipv4.conf.veth-p.rp_filter=2
    fi
    log "(proxy box: TPROXY, as in 04-tproxy)"
    run "$ns_proxy" "$ipt" -t mangle -A PREROUTING -i eth0 -p tcp -m multiport --dports "$lab_ports" \
        -j TPROXY --on-port "$tproxy_port" --tproxy-mark "$tproxy_mark/$tproxy_mark"
    run "$ns_proxy" ip "$ip_f" rule add fwmark "$tproxy_mark/$tproxy_mark" lookup "$tproxy_table"
    run "$ns_proxy" ip "$ip_f" route add local "$any_net" dev lo table "$tproxy_table"
    start_proxy "$ns_proxy" "$1" tproxy "0.0.0.0:$tproxy_port" "[::]:$tproxy_port"
}

# one_run RUNDIR FAMILY a|b
one_run() {
    local rundir=$1 family=$2 part=$3 title mode
    begin_run "$rundir" "$family" proxy-box
    if [[ "$part" == a ]]; then
        title="DNAT to a remote proxy" mode=redirect
        part_a "$rundir"
    else
        title="route to a remote TPROXY" mode=tproxy
        part_b "$rundir"
    fi
    run_traffic "$rundir"
    end_run "$rundir" 05-remote-proxy "$mode" "$title"
    fact[$rundir,reason]=$(event_field "$rundir/events.jsonl" closed reason)
    fact[$rundir,error]=$(event_field "$rundir/events.jsonl" accepted lookup_error)
    fact[$rundir,proxy_conntrack]=$(grep -c . "$rundir/conntrack-proxy.txt" || true)
}

for family in "${lab_families[@]}"; do
    section "(A) DNAT to the proxy box, $family: remote-dnat-$family/"
    one_run "remote-dnat-$family" "$family" a
    log "what tplab on the proxy box said about the first connection:"
    log "    closed: reason ${fact[remote-dnat-$family,reason]:-?}"
    log "    accepted: lookup_error ${fact[remote-dnat-$family,error]:-(none)}"
    section "(B) policy routing to the proxy box, TPROXY there, $family: remote-route-$family/"
    one_run "remote-route-$family" "$family" b
done

run_report "tplab report"

section "checks (from report.json, the proxy's events and the kernels' own addresses)"
for family in "${lab_families[@]}"; do
    a=remote-dnat-$family b=remote-route-$family
    srv80=$(endpoint "${run_fact[$a,server]}" "$lab_http_port")
    target=$(endpoint "${run_fact[$a,proxy]}" "$redirect_port")

    check_report "$a" "gateway:veth-c sees the server's address as destination" \
        'hop(f, "gateway:veth-c")["destination"]' "$srv80"
    check_report "$a" "gateway:veth-p (to the proxy box) sees the REWRITTEN destination" \
        'hop(f, "gateway:veth-p")["destination"]' "$target"
    check_report "$a" "the report flags the change there" \
        'hop(f, "gateway:veth-p")["destination_changed"]' true
    check_report "$a" "the proxy box receives a connection to itself" \
        'hop(f, "proxy:eth0")["destination"]' "$target"
    check_report "$a" "the original destination is in the GATEWAY's conntrack table" \
        'ct_tuples(f["internals"]["nat"]["entry"])[0][1]' "$srv80"
    check_eq "$a: the proxy box's conntrack table is empty" "${fact[$a,proxy_conntrack]}" 0
    check_report "$a" "SO_ORIGINAL_DST on the proxy box recovers nothing (original_dst null)" \
        'f["internals"]["original_dst"] or "null"' null
    case "${fact[$a,reason]}" in
    not_redirected | loop_refused) pass "$a: tplab refused the connection: ${fact[$a,reason]}" ;;
    *) fail "$a: tplab closed the connection with reason '${fact[$a,reason]}', want not_redirected or loop_refused" ;;
    esac
    check_eq "$a: so the client got no answer from the server" "${run_fact[$a,replies]}" 0
    check_report "$a" "and nothing reached the server" 'hop(f, "server:eth0")["seen"]' false

    check_path "$b" "the proxy box (its own connection)" "${run_fact[$b,proxy_out]}"
    check_report "$b" "gateway:veth-p (to the proxy box) still sees the server's address" \
        'hop(f, "gateway:veth-p")["destination"]' "$srv80"
    check_report "$b" "and so does the proxy box's eth0" 'hop(f, "proxy:eth0")["destination"]' "$srv80"
    check_tproxy_interception "$b"
    check_report "$b" "the upstream connection leaves the gateway from the proxy box's address" \
        'hop(f, "gateway:veth-s")["source"].rsplit(":", 1)[0].strip("[]")' "${run_fact[$b,proxy_out]}"
done

log ""
log "finished in ${SECONDS}s"
lab_exit
