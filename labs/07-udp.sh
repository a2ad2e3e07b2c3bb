#!/bin/bash
# 07-udp: DNS (dig against dnsmasq) and a UDP echo through TPROXY, then the same datagrams into a
# nat REDIRECT, where conntrack knows the way but a UDP socket cannot ask it.
#
#  +-----------------+      +---------------------------------------------+      +-------------------+
#  | tpl-client      |      | tpl-gw                                      |      | tpl-server        |
#  |  dig @server    |      |  TPROXY run:                                |      |  dnsmasq :53      |
#  |   example.test  |      |   tplab rules --mode tproxy --udp           |      |   example.test    |
#  |  socat UDP :7001|      |     --dport 53,7001 (mangle TPROXY, ip rule,|      |  socat UDP :7001  |
#  |                 |      |     local route)                            |      |   "served by      |
#  |                 |      |   tplab proxy --mode tproxy --udp :15002    |      |    server: ..."   |
#  |                 |      |  REDIRECT run:                              |      |                   |
#  |                 |      |   nat PREROUTING -p udp --dport 53          |      |                   |
#  |                 |      |     -j REDIRECT --to-ports 15001            |      |                   |
#  |                 |      |   a UDP probe on :15001 asks SO_ORIGINAL_DST|      |                   |
#  |       eth0 [1]  |------| veth-c                               veth-s |------| [2] eth0          |
#  | 192.0.2.2       |      | 192.0.2.1                      198.51.100.1 |      | 198.51.100.2      |
#  | 2001:db8:1::2   |      | 2001:db8:1::1                 2001:db8:2::1 |      | 2001:db8:2::2     |
#  +-----------------+      +---------------------------------------------+      +-------------------+
#   [1], [2]: capture points (tplab capture -f udp)
#
# UDP has no connection to accept, so a UDP transparent proxy learns each datagram's destination
# from the datagram itself: its listener has IP_TRANSPARENT and IP_RECVORIGDSTADDR
# (IPV6_RECVORIGDSTADDR), and recvmsg() hands over the original destination in a control message
# (SOL_IP/IP_ORIGDSTADDR or SOL_IPV6/IPV6_ORIGDSTADDR). To answer as the server, tplab sends the
# reply from a second transparent socket bound to the server's address: the client sees the
# server as the source (capture [1]), and dig accepts nothing else. The server sees the gateway
# (no --spoof-source here; dnsmasq's log says so). REDIRECT for UDP is half a solution: the
# nat rule does rewrite the datagram and conntrack does hold the mapping (conntrack -L -p udp),
# but the only call that reads it back, getsockopt(SO_ORIGINAL_DST), is implemented for TCP and
# SCTP sockets only; on a UDP socket it fails with ENOPROTOOPT. The lab shows the kernel's answer
# (a probe asks it), that tplab rules refuses to write such rules, and that tplab proxy --mode
# redirect --udp refuses to start, exit 2, with a one-line reason. Checks come from the captures
# (tcpdump -r), the proxy's events, dnsmasq's and the probe's logs, and the kernels.
#
# Usage: sudo labs/07-udp.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       keep the run directories (pcaps, events, logs) and the report of the TPROXY
#                   runs (report.txt, .json, .html) in DIR (default: a temp dir,
#                   removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 8 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP.
# Docs: docs/labs/07-udp.md, docs/udp.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
setup_lab ip ss iptables ip6tables socat timeout python3 conntrack dig dnsmasq tcpdump

lab_capture_filter=udp
readonly dns_port=53 echo_port=7001
# shellcheck disable=SC2016  # the script's own $1 and $line
printf '%s\n' 'while IFS= read -r line; do printf "served by %s: %s\n" "$1" "$line"; done' >udp_echo.sh

# The probe in the REDIRECT run: a UDP socket on the port REDIRECT sends to. For each datagram it
# asks the kernel for the original destination the way a REDIRECT proxy would, logs the answer
# and replies with it.
cat >udp_probe.py <<'EOF'
import socket, sys
name, family, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
af, level, addr = ((socket.AF_INET, socket.SOL_IP, "0.0.0.0") if family == "ipv4"
                   else (socket.AF_INET6, socket.IPPROTO_IPV6, "::"))
opt = "SO_ORIGINAL_DST" if family == "ipv4" else "IP6T_SO_ORIGINAL_DST"
s = socket.socket(af, socket.SOCK_DGRAM)
s.bind((addr, port))
print(f"{name}: UDP probe listening on port {port}", flush=True)
while True:
    data, peer = s.recvfrom(2048)
    try:
        s.getsockopt(level, 80, 28)  # SO_ORIGINAL_DST / IP6T_SO_ORIGINAL_DST: option 80
        answer = f"getsockopt({opt}) answered"
    except OSError as e:
        answer = f"getsockopt({opt}) on a UDP socket: {e} (errno {e.errno})"
    print(f"{name}: datagram from {peer[0]} port {peer[1]}: {answer}", flush=True)
    s.sendto(f"served by {name}: {answer}\n".encode(), peer)
EOF

# start_servers RUNDIR: dnsmasq (example.test -> 203.0.113.7 and 2001:db8:3::7, every query
# logged) and the UDP echo that answers "served by server: LINE", in the server namespace.
start_servers() {
    local rundir=$1
    start_bg "$ns_server" "$rundir/dnsmasq.log" dnsmasq --no-daemon --no-resolv --no-hosts \
        --bind-interfaces --listen-address="$server_ip" --port="$dns_port" \
        --address=/example.test/203.0.113.7 --address=/example.test/2001:db8:3::7 \
        --log-queries --log-facility=- --user=root --pid-file="$lab_work/$rundir/dnsmasq.pid"
    wait_udp_listening "$ns_server" "$dns_port" || { cat "$rundir/dnsmasq.log" >&2; die "dnsmasq did not start"; }
    start_bg "$ns_server" "$rundir/echo.log" socat "UDP6-LISTEN:$echo_port,ipv6only=0,fork" \
        "EXEC:sh $lab_work/udp_echo.sh server"
    wait_udp_listening "$ns_server" "$echo_port" || die "the UDP echo did not start"
}

# show_pcap RUNDIR POINT: the capture at POINT (NS:IFACE), as tcpdump prints it.
show_pcap() {
    local file="$1/${2/:/-}.pcap"
    run - tcpdump -nn -r "$file" 2>/dev/null | lab_indent
}

# reply_sources PCAP PORTS_RE: the distinct source addresses of the datagrams from ports PORTS_RE
# (e.g. 53|7001) in PCAP, read with tcpdump.
reply_sources() {
    tcpdump -nn -r "$1" 2>/dev/null |
        awk -v re="^($2)$" '{ n = split($3, a, "."); if (a[n] ~ re) { sub("\\.[0-9]+$", "", $3); print $3 } }' |
        sort -u
}

# udp_events FILE: one line per accepted UDP session: "ORIGINAL_DST RECOVERED_BY".
udp_events() {
    "$lab_py" -c '
import json, sys
for line in open(sys.argv[1]):
    try:
        e = json.loads(line)
    except ValueError:
        continue
    if e.get("event") == "accepted" and e.get("protocol") == "udp":
        print(e.get("original_dst"), e.get("recovered_by"))' "$1"
}

tproxy_run() {
    local family=$1 rundir="udp-tproxy-$1" qtype=A recovered=IP_ORIGDSTADDR srv gw_out client_pcap
    local answer configured sources got want
    section "UDP through TPROXY, $family: $rundir/"
    use_family "$family"
    [[ "$family" == ipv6 ]] && qtype=AAAA recovered=IPV6_ORIGDSTADDR
    fresh_rundir "$rundir"
    build_topology
    start_servers "$rundir"
    log "the rule set (tplab rules prints it; --apply applies it):"
    show_rules "$ns_gw" --mode tproxy --port "$tproxy_port" --udp --dport "$dns_port,$echo_port" \
        --in-interface veth-c "--$family"
    apply_rules "$ns_gw" --mode tproxy --port "$tproxy_port" --udp --dport "$dns_port,$echo_port" \
        --in-interface veth-c "--$family"
    start_proxy "$ns_gw" "$rundir" tproxy "0.0.0.0:$tproxy_port" "[::]:$tproxy_port" -- --udp
    start_capture "$rundir" "$ns_client:eth0" "$ns_server:eth0"
    run "$ns_client" dig +time=2 +tries=1 "@$server_ip" example.test "$qtype" +short >"$rundir/dig.txt" 2>&1 || true
    lab_indent "$rundir/dig.txt"
    echo "hello from client" | run "$ns_client" timeout 5 socat -t 1 - "UDP:$server_host:$echo_port" \
        >"$rundir/echo.txt" 2>&1 || true
    lab_indent "$rundir/echo.txt"
    stop_capture
    client_pcap="$rundir/$ns_client-eth0.pcap"
    log "what the client's wire saw (capture [1]): every reply comes from the server's address"
    show_pcap "$rundir" "$ns_client:eth0"
    log "what the server's wire saw (capture [2]): the datagrams come from the gateway"
    show_pcap "$rundir" "$ns_server:eth0"
    log "the proxy's events (accepted = a new UDP session):"
    grep -E '"event":"(accepted|connected)"' "$rundir/events.jsonl" | lab_indent || true
    log "dnsmasq's log:"
    grep -E 'query|config' "$rundir/dnsmasq.log" | lab_indent || true

    srv=$(iface_addr "$ns_server" eth0 "$family")
    gw_out=$(route_src "$ns_gw" "$srv")
    stop_proxy "$rundir"
    record_gateway_state "$ns_gw" "$rundir"
    lab_points=()
    add_point client:eth0 "$ns_client" eth0 client gateway
    add_point server:eth0 "$ns_server" eth0 gateway server
    write_meta "$rundir" 07-udp tproxy "TPROXY, UDP (DNS and echo), $fam_name" "$fam" client,gateway,server
    udp_dirs+=("$rundir")
    section "checks, $rundir"
    answer=$(head -n1 "$rundir/dig.txt")
    configured=$(sed -n "s/.*config example.test is \(.*\)$/\1/p" "$rundir/dnsmasq.log" | head -n1)
    check_eq "$rundir: dig got dnsmasq's answer (dig accepts a reply only from the server it asked)" \
        "$answer" "${configured:-<none in dnsmasq.log>}"
    sources=$(reply_sources "$client_pcap" "$dns_port|$echo_port" | paste -sd' ')
    check_eq "$rundir: at client:eth0 every reply (from ports 53, 7001) carries the server's address" "$sources" "$srv"
    check_eq "$rundir: the echo came back from the server" "$(head -n1 "$rundir/echo.txt")" \
        "served by server: hello from client"
    got=$(udp_events "$rundir/events.jsonl" | paste -sd' ')
    want="$(endpoint "$srv" "$dns_port") $recovered $(endpoint "$srv" "$echo_port") $recovered"
    check_eq "$rundir: the proxy read each session's original destination from recvmsg ($recovered)" "$got" "$want"
    got=$(sed -n "s/.*query\[$qtype\] example.test from \(.*\)$/\1/p" "$rundir/dnsmasq.log" | head -n1)
    check_eq "$rundir: dnsmasq saw the query come from the gateway (no --spoof-source)" "$got" "$gw_out"
    sources=$(reply_sources "$rundir/$ns_server-eth0.pcap" "[0-9]+" | grep -vxF "$srv" | paste -sd' ' || true)
    check_eq "$rundir: at server:eth0 the datagrams come from the gateway" "$sources" "$gw_out"
    teardown_ns "${lab_ns_list[@]}"
}

redirect_run() {
    local family=$1 rundir="udp-redirect-$1" rc=0 gw_in srv entry got msg probe_pid
    section "UDP into a nat REDIRECT, $family: $rundir/"
    use_family "$family"
    fresh_rundir "$rundir"
    build_topology
    start_servers "$rundir"
    log "tplab rules will not write REDIRECT rules for UDP:"
    show_cmd "$ns_gw" "" tplab rules --mode redirect --port "$redirect_port" --udp --dport "$dns_port" "--$family"
    lab_in "$ns_gw" tplab rules --mode redirect --port "$redirect_port" --udp --dport "$dns_port" "--$family" \
        >"$rundir/rules-refused.txt" 2>&1 || rc=$?
    lab_indent "$rundir/rules-refused.txt"
    log "    (exit status $rc)"
    log "so the rule by hand: the kernel accepts it"
    run "$ns_gw" "$ipt" -t nat -A PREROUTING -i veth-c -p udp --dport "$dns_port" -j REDIRECT --to-ports "$redirect_port"
    start_bg "$ns_gw" "$rundir/probe.log" "$lab_py" -u "$lab_work/udp_probe.py" gw "$family" "$redirect_port"
    probe_pid=$bg_pid
    wait_udp_listening "$ns_gw" "$redirect_port" || { cat "$rundir/probe.log" >&2; die "the UDP probe did not start"; }
    start_capture "$rundir" "$ns_client:eth0"
    echo "where was I going?" | run "$ns_client" timeout 5 socat -t 1 - "UDP:$server_host:$dns_port" \
        >"$rundir/client.txt" 2>&1 || true
    lab_indent "$rundir/client.txt"
    stop_capture
    log "the probe's log:"
    lab_indent "$rundir/probe.log"
    log "what the client's wire saw: the reply comes back from the server's address (conntrack reversed the NAT)"
    show_pcap "$rundir" "$ns_client:eth0"
    log "conntrack holds the mapping: ORIGINAL to the server's port 53, REPLY from the gateway's port $redirect_port"
    run "$ns_gw" conntrack -L -p udp -f "$family" 2>/dev/null | tee "$rundir/conntrack.txt" | lab_indent
    log "so tplab proxy in redirect mode refuses UDP, with the reason:"
    stop_bg "$probe_pid" TERM || true
    rc=0
    show_cmd "$ns_gw" "" tplab proxy --mode redirect --udp --listen "[::]:$redirect_port"
    lab_in "$ns_gw" timeout 5 tplab proxy --mode redirect --udp --listen "[::]:$redirect_port" \
        >"$rundir/proxy-refused.txt" 2>&1 || rc=$?
    lab_indent "$rundir/proxy-refused.txt"
    log "    (exit status $rc)"

    gw_in=$(iface_addr "$ns_gw" veth-c "$family")
    srv=$(iface_addr "$ns_server" eth0 "$family")
    section "checks, $rundir"
    check_eq "$rundir: tplab proxy --mode redirect --udp refuses to start (exit status)" "$rc" 2
    msg=$(head -n1 "$rundir/proxy-refused.txt")
    check_contains "$rundir: ... and names the reason: ENOPROTOOPT" "$msg" ENOPROTOOPT
    check_contains "$rundir: tplab rules refuses --udp with --mode redirect" \
        "$(cat "$rundir/rules-refused.txt")" "SO_ORIGINAL_DST"
    got=$(grep -c 'errno 92' "$rundir/probe.log" || true)
    check "$rundir: the kernel answered the probe's getsockopt with ENOPROTOOPT (errno 92; $got datagram)" \
        test "${got:-0}" -ge 1
    check_contains "$rundir: the client got the probe's answer, not the server's" \
        "$(cat "$rundir/client.txt")" "served by gw"
    entry=$(grep -F "dport=$dns_port" "$rundir/conntrack.txt" | grep -F "src=$client_ip " | head -n1 || true)
    check_contains "$rundir: conntrack's ORIGINAL tuple goes to the server's port 53" "$entry" "dst=$srv sport="
    check_contains "$rundir: its REPLY tuple comes from the gateway's port $redirect_port" "$entry" \
        "src=$gw_in dst=$client_ip sport=$redirect_port"
    got=$(reply_sources "$rundir/$ns_client-eth0.pcap" "$dns_port" | paste -sd' ')
    check_eq "$rundir: at client:eth0 the reply shows the server's address (NAT reversed)" "$got" "$srv"
    teardown_ns "${lab_ns_list[@]}"
}

udp_dirs=()  # the TPROXY runs, for tplab report (write_meta in tproxy_run)
for family in "${lab_families[@]}"; do
    tproxy_run "$family"
    redirect_run "$family"
done
if ((${#udp_dirs[@]})) && report_available; then
    run_report "tplab report: the UDP flows through TPROXY, wire by wire" "${udp_dirs[@]}"
fi

log ""
log "finished in ${SECONDS}s"
lab_exit
