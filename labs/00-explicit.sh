#!/bin/bash
# 00-explicit: the proxy the client knows about. curl is configured with the proxy's address
# (--socks5, or --proxy http:// with CONNECT) and names the destination inside the protocol;
# no rule in the gateway touches the packets. Compare with 02-redirect and 04-tproxy, where the
# client knows nothing and the kernel hands the destination to the proxy.
#
#  +-----------------+      +------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                   |      | tpl-server       |
#  |  curl --socks5  |      |  (no iptables rule)                      |      |  HTTP :80        |
#  |   192.0.2.1:1080|      |  tplab proxy --mode socks5  :1080        |      |  "served by      |
#  |  curl --proxy   |      |  tplab proxy --mode http-connect :3128   |      |   server"        |
#  |       eth0 [1]  |------| [2] veth-c                    veth-s [3] |------| [4] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1                   198.51.100.1 |      | 198.51.100.2     |
#  | 2001:db8:1::2   |      | 2001:db8:1::1              2001:db8:2::1 |      | 2001:db8:2::2    |
#  +-----------------+      +------------------------------------------+      +------------------+
#   [1]..[4]: capture points (tplab capture), in path order
#
# What to look at: at [1] the client's packets go to the PROXY's address (192.0.2.1:1080), not
# the server's; their first bytes are the SOCKS5 handshake, VER NMETHODS METHODS (05 01 00), then
# VER CMD RSV ATYP DST.ADDR DST.PORT: 05 01 00 01 c6 33 64 02 00 50 is CONNECT 198.51.100.2:80
# (curl offers two methods, 05 02 00 01: no authentication and GSSAPI; tplab picks 00).
# The proxy answers 05 00 00 01 + the address its upstream socket bound. At [3]/[4] the server
# sees a connection from the gateway (198.51.100.1): the proxy opened it. HTTP CONNECT shows the
# same in text: "CONNECT 198.51.100.2:80 HTTP/1.1", then "HTTP/1.1 200 Connection established".
# At the end tplab report reads the runs and decodes both handshakes, message by message, from
# the client's own capture (report.txt, report.json, report.html in the output directory).
#
# Usage: sudo labs/00-explicit.sh [--ipv4 | --ipv6] [--out DIR]
# Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP. Docs: docs/explicit-proxy.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

readonly socks_port=1080 connect_port=3128

# client_bytes PCAP PORT: the payload the client sent to the proxy's PORT, as hex, in order.
client_bytes() {
    "$lab_py" - "$1" "$2" <<'PY'
import struct, sys
path, port = sys.argv[1], int(sys.argv[2])
data = open(path, "rb").read()
magic = struct.unpack("<I", data[:4])[0]
endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
link = struct.unpack(endian + "I", data[20:24])[0]
offset, out = 24, b""
while offset + 16 <= len(data):
    _, _, caplen, _ = struct.unpack(endian + "IIII", data[offset:offset + 16])
    frame = data[offset + 16:offset + 16 + caplen]
    offset += 16 + caplen
    pos = 14 if link == 1 else 16 if link == 113 else 0
    if link == 276:  # LINUX_SLL2
        pos = 20
    version = frame[pos] >> 4
    if version == 4:
        proto, ihl = frame[pos + 9], (frame[pos] & 0xF) * 4
        tcp = pos + ihl
    else:
        proto, tcp = frame[pos + 6], pos + 40
    if proto != 6:
        continue
    dport = struct.unpack("!H", frame[tcp + 2:tcp + 4])[0]
    header = (frame[tcp + 12] >> 4) * 4
    if dport == port:
        out += frame[tcp + header:]
print(out.hex(" "))
PY
}

parse_lab_args "$@"
setup_lab ip ss curl socat timeout python3

for family in "${lab_families[@]}"; do
    rundir=explicit-$family
    section "explicit proxies, $family: $rundir/"
    begin_run "$rundir" "$family"
    proxy_addr=$(url_host "$gw_client_ip")
    start_proxy "$ns_gw" "$rundir" socks5 "$(endpoint "$gw_client_ip" "$socks_port")"
    start_bg "$ns_gw" "$rundir/connect.log" tplab proxy --mode http-connect \
        --listen "$(endpoint "$gw_client_ip" "$connect_port")" --events "$rundir/connect-events.jsonl"
    connect_pid=$bg_pid
    wait_listening "$ns_gw" "$connect_port" || die "tplab proxy (http-connect) is not listening"
    start_capture "$rundir"
    : >"$rundir/client.txt"
    run "$ns_client" curl -sS -m 5 --socks5 "$proxy_addr:$socks_port" \
        "http://$server_host:$lab_http_port/" | tee -a "$rundir/client.txt" | sed 's/^/    /'
    run "$ns_client" curl -sS -m 5 --proxytunnel \
        --proxy "http://$proxy_addr:$connect_port" "http://$server_host:$lab_http_port/" |
        tee -a "$rundir/client.txt" | sed 's/^/    /'
    wait_events_closed "$rundir/events.jsonl" 1 || true
    stop_capture
    show_capture_table "$rundir"
    stop_bg "$connect_pid" TERM || true

    section "checks, $family"
    check_eq "$rundir: both requests were answered by the server" \
        "$(grep -c '^served by server$' "$rundir/client.txt" || true)" 2
    pcap="$rundir/$ns_client-eth0.pcap"
    log "the client talks to the proxy: tcpdump -nn -r $pcap | head -3"
    tcpdump -nn -r "$pcap" 2>/dev/null | head -3 | cut -c1-95 | sed "s/^/    /"
    check_contains "$rundir: the client's SYN goes to the proxy's address, not the server's" \
        "$(tcpdump -nn -r "$pcap" 2>/dev/null | grep -m1 'Flags \[S\]')" \
        "> $gw_client_ip.$socks_port:"
    socks_hex=$(client_bytes "$pcap" "$socks_port")
    if [[ "$family" == ipv4 ]]; then
        want="05 01 00 01 c6 33 64 02 00 50"
    else
        want="05 01 00 04 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 02 00 50"
    fi
    log "the client's first bytes to :$socks_port (greeting, request; tplab report decodes them):"
    # shellcheck disable=SC2086  # split the hex into words on purpose
    printf '    %s\n' "$(printf '%s ' $socks_hex | cut -d' ' -f1-4)" "$want"
    check_contains "$rundir: the SOCKS5 request names the server in its bytes" \
        "$socks_hex" "$want"
    connect_line=$(client_bytes "$pcap" "$connect_port" | "$lab_py" -c \
        'import sys; print(bytes.fromhex(sys.stdin.read().replace(" ", "")).split(b"\r\n")[0].decode())')
    check_eq "$rundir: the HTTP CONNECT request names the server in its text" \
        "$connect_line" "CONNECT $(endpoint "$server_ip" "$lab_http_port") HTTP/1.1"
    check_eq "$rundir: the proxy says the destination came from the SOCKS5 request" \
        "$(event_field "$rundir/events.jsonl" accepted recovered_by)" "SOCKS5 request"
    check_eq "$rundir: the proxy connected to the server" \
        "$(event_field "$rundir/events.jsonl" connected upstream_peer)" \
        "$(endpoint "$server_ip" "$lab_http_port")"
    check_contains "$rundir: the server saw the gateway, not the client" \
        "$(cat "$rundir"/*server*.http.log)" "$gw_server_ip"
    stop_proxy "$rundir"
    write_meta "$rundir" 00-explicit socks5 "explicit proxies, $fam_name" "$fam" \
        client,gateway,server
    run_dirs+=("$rundir")
    pause_here
    teardown_ns "${lab_ns_list[@]}"
done

run_report "tplab report: the handshakes, decoded from client:eth0's capture"
log "what the clients told the proxies (report.txt):"
awk '/^  explicit proxy handshake/ { on = 1; print; next } on && /^    / { print; next }
     { on = 0 }' report.txt

section "checks (from report.json)"
for family in "${lab_families[@]}"; do
    rundir=explicit-$family
    use_family "$family"
    server=$(endpoint "$server_ip" "$lab_http_port")
    got=$(report_json_get report.json \
        "' / '.join(f['explicit']['request'] for f in run('$rundir')['flows'] if f['explicit'])")
    check_eq "$rundir: the report decodes both requests from the client's capture" "$got" \
        "SOCKS5 CONNECT $server / HTTP CONNECT $server"
    got=$(report_json_get report.json \
        "' '.join(m['from'] for m in run('$rundir')['flows'][0]['explicit']['messages'])")
    check_eq "$rundir: greeting, method, request, reply: four SOCKS5 messages" "$got" \
        "client proxy client proxy"
    got=$(report_json_get report.json \
        "run('$rundir')['flows'][0]['explicit']['messages'][3]['meaning'].split(',')[0]")
    check_eq "$rundir: the proxy replied REP 00 (succeeded)" "$got" "REP 00 (succeeded)"
done

log ""
log "finished in ${SECONDS}s"
lab_exit
