#!/bin/bash
# original-recipe: the original teaching text's TPROXY commands, verbatim (table 1, mark 1/1,
# port 12345, one unscoped `-p tcp -j TPROXY` rule, no socket match in front), with a tplab
# proxy listening where the rule points. Then three connections, captured: nothing works.
# Then the kernel documentation's guard, then what `tplab rules` writes for the same request.
#
#  +-----------------+      +-----------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                        |      | tpl-server       |
#  |  curl :80       |      |  ip rule add fwmark 1/1 table 1               |      |  HTTP :80        |
#  |  curl gw:2222   |      |  ip route add local 0.0.0.0/0 dev lo table 1  |      |  "served by      |
#  |                 |      |  iptables -t mangle -A PREROUTING -p tcp      |      |   server"        |
#  |                 |      |   -j TPROXY --on-port 12345 --tproxy-mark 1/1 |      |                  |
#  |                 |      |  tplab proxy --mode tproxy :12345             |      |                  |
#  |                 |      |  HTTP :2222 "served by gw" (think sshd)       |      |                  |
#  |       eth0 [1]  |------| [2] veth-c                         veth-s [3] |------| [4] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1                        198.51.100.1 |      | 198.51.100.2     |
#  +-----------------+      +-----------------------------------------------+      +------------------+
#   [1]..[4]: capture points (tplab capture), in path order
#
# Why nothing works: for every TCP packet the TPROXY target first looks up an *established*
# socket for it, and when it finds one that is not transparent it drops the packet (NF_DROP in
# net/netfilter/xt_TPROXY.c). The replies to the gateway's own connections belong to such sockets:
# (a) the gateway's own curl to the server: its SYN-ACKs arrive at veth-s and are dropped;
# (c) the client's request through the proxy: the proxy accepts it, but its own upstream
# connection is an ordinary socket, so the server's SYN-ACKs are dropped the same way;
# (b) the client's connection to a service on the gateway itself: the unscoped rule hands it
# to the proxy too, whose connection onward to 192.0.2.1:2222 comes back through lo into the same
# rule. The kernel's Documentation/networking/tproxy.rst puts `-m socket -j DIVERT` (mark and
# ACCEPT) in front for exactly this; the original text leaves it out. With that guard (a) and (c)
# work, (b) still does not (-m socket ignores listeners on 0.0.0.0); `tplab rules` adds a second
# guard for the gateway's own addresses, and all three work. The text's listener binds port 555
# while its rule says 12345: a second fault, exercise 1 of labs/exercise.sh; here the proxy
# listens on 12345 so that only the rule is on trial. IPv4 only, as in the text.
#
# Usage: sudo labs/original-recipe.sh [--out DIR]
#   --out DIR  keep the pcaps, events, rules and logs in DIR (default: a temp dir, removed)
# Takes about 35 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP.
# Docs: docs/labs/original-recipe.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
setup_lab ip ss iptables curl socat timeout python3 tcpdump

readonly seed_port=12345 gw_service_port=2222

# try NS NAME URL RUNDIR: curl URL from NS (3 s at most) into RUNDIR/NAME.txt, shown; returns
# curl's status.
try() {
    local ns=$1 name=$2 url=$3 rundir=$4 rc=0
    run "$ns" curl --noproxy '*' -sS --max-time 3 "$url" >"$rundir/$name.txt" 2>&1 || rc=$?
    sed 's/^/    /' "$rundir/$name.txt"
    return "$rc"
}

# tproxy_counter: packets counted by the TPROXY rule(s) in the gateway's mangle PREROUTING.
tproxy_counter() {
    lab_in "$ns_gw" iptables-save -c -t mangle |
        awk '/-j TPROXY / { split(substr($1, 2), c, ":"); n += c[1] } END { print n + 0 }'
}

# tcp_lines PCAP FILTER: tcpdump's one-line view of PCAP, TCP flags only, for FILTER.
tcp_lines() {
    tcpdump -nn -r "$1" "$2" 2>/dev/null | sed -E 's/^[0-9:.]+ //; s/, (seq|ack|win|options|length).*//'
}

# show_events FILE: the proxy's accepted and closed events, one short line each.
show_events() {
    "$lab_py" - "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["event"] == "accepted":
        print(f"    #{e['id']} accepted  {e['client']} -> {e['original_dst']} ({e['recovered_by']})")
    elif e["event"] == "closed":
        print(f"    #{e['id']} closed    {e['reason']}: {e.get('detail', '')}")
EOF
}

count_synack() {
    tcpdump -nn -r "$1" "$2" 2>/dev/null | grep -c 'Flags \[S\.\]' || true
}

# three_flows RUNDIR: (a) gateway -> server, (b) client -> the gateway's service, (c) client ->
# server, each captured; sets rc_a rc_b rc_c.
three_flows() {
    local rundir=$1
    start_capture "$rundir"
    log "(a) the gateway's own connection to the server"
    try "$ns_gw" a-gateway "http://$server_ip/" "$rundir" && rc_a=0 || rc_a=$?
    log "(b) the client's connection to a service on the gateway itself (think: ssh into it)"
    try "$ns_client" b-gw-service "http://$gw_client_ip:$gw_service_port/" "$rundir" && rc_b=0 || rc_b=$?
    log "(c) the client's connection to the server, through the proxy"
    try "$ns_client" c-client "http://$server_ip/" "$rundir" && rc_c=0 || rc_c=$?
    stop_capture
    show_capture_table "$rundir"
}

begin_original() {
    local rundir=$1
    fresh_rundir "$rundir"
    use_family ipv4
    build_topology
    start_name_server "$ns_server" server "$lab_http_port" "$rundir/server.http.log"
    start_name_server "$ns_gw" gw "$gw_service_port" "$rundir/gw.http.log"
    standard_points
}

section "1. the original text's commands, verbatim: original/"
begin_original original
log "(the text runs them with sudo; the lab runs as root in the gateway's namespace)"
run "$ns_gw" ip rule add fwmark 1/1 table 1
run "$ns_gw" ip route add local 0.0.0.0/0 dev lo table 1
run "$ns_gw" iptables -t mangle -A PREROUTING -p tcp -j TPROXY --on-port "$seed_port" --tproxy-mark 1/1
log "(the listener: the text's C code sets IP_TRANSPARENT, as tplab proxy --mode tproxy does)"
start_proxy "$ns_gw" original tproxy "0.0.0.0:$seed_port" -- --connect-timeout 2
before=$(tproxy_counter)
three_flows original
after=$(tproxy_counter)
sleep 2.2  # let the proxy's upstream connect time out (--connect-timeout 2) and write its events
log "the TPROXY rule's counter: $before -> $after packets"
log "what gateway:veth-s saw of (a), the gateway's own connection (port 80, from 198.51.100.1):"
tcp_lines "original/$ns_gw-veth-s.pcap" "tcp port 80 and host $gw_server_ip" | head -n 8 | sed 's/^/    /'
log "the proxy's events (accepted, then its own upstream connection timing out):"
show_events original/events.jsonl
record_gateway_state "$ns_gw" original
n_synack=$(count_synack "original/$ns_gw-veth-s.pcap" "tcp port 80")
n_timeout=$(grep -c '"reason":"connect_timeout"' original/events.jsonl || true)
n_accepted=$(grep -c '"event":"accepted"' original/events.jsonl || true)
stop_proxy original
teardown_ns "${lab_ns_list[@]}"

section "checks: the verbatim recipe"
check "(a) the gateway's own request to the server failed (curl exit $rc_a)" test "$rc_a" -ne 0
check "(b) the client's request to the gateway's own service failed (curl exit $rc_b)" test "$rc_b" -ne 0
check "(c) the client's request through the proxy failed (curl exit $rc_c)" test "$rc_c" -ne 0
check "the server's SYN-ACKs did arrive at gateway:veth-s ($n_synack): dropped inside the gateway" \
    test "$n_synack" -ge 2
check "the TPROXY rule counted the packets it took ($before -> $after)" test "$after" -gt "$before"
check "the proxy accepted the client's connections ($n_accepted)" test "$n_accepted" -ge 2
check "... and its own upstream connections timed out ($n_timeout connect_timeout)" test "$n_timeout" -ge 2

section "2. with the kernel documentation's guard in front: divert/"
begin_original divert
run "$ns_gw" ip rule add fwmark 1/1 table 1
run "$ns_gw" ip route add local 0.0.0.0/0 dev lo table 1
log "(Documentation/networking/tproxy.rst: packets of an existing local socket skip TPROXY)"
run "$ns_gw" iptables -t mangle -N DIVERT
run "$ns_gw" iptables -t mangle -A PREROUTING -p tcp -m socket -j DIVERT
run "$ns_gw" iptables -t mangle -A DIVERT -j MARK --set-mark 1
run "$ns_gw" iptables -t mangle -A DIVERT -j ACCEPT
run "$ns_gw" iptables -t mangle -A PREROUTING -p tcp -j TPROXY --on-port "$seed_port" --tproxy-mark 1/1
start_proxy "$ns_gw" divert tproxy "0.0.0.0:$seed_port" -- --connect-timeout 2
three_flows divert
record_gateway_state "$ns_gw" divert
stop_proxy divert
teardown_ns "${lab_ns_list[@]}"
check "(a) with the guard, the gateway's own request works" test "$rc_a" -eq 0
check "(c) with the guard, the client's request through the proxy works" test "$rc_c" -eq 0
check "(b) the gateway's own service still fails: -m socket skips 0.0.0.0 listeners (curl exit $rc_b)" \
    test "$rc_b" -ne 0

section "3. what tplab rules writes for the same request: rules/"
begin_original rules
show_rules "$ns_gw" --mode tproxy --port "$seed_port" --table 1 --ipv4
apply_rules "$ns_gw" --mode tproxy --port "$seed_port" --table 1 --ipv4
start_proxy "$ns_gw" rules tproxy "0.0.0.0:$seed_port" -- --connect-timeout 2
three_flows rules
record_gateway_state "$ns_gw" rules
stop_proxy rules
check "(a) tplab rules: the gateway's own request works" test "$rc_a" -eq 0
check "(b) tplab rules: the gateway's own service answers the client" test "$rc_b" -eq 0
check "(c) tplab rules: the client's request through the proxy works" test "$rc_c" -eq 0
check_eq "(c) ... and the server answered it" "$(head -n1 rules/c-client.txt)" "served by server"
teardown_ns "${lab_ns_list[@]}"

log ""
log "finished in ${SECONDS}s"
lab_exit
