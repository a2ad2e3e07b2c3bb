#!/bin/bash
# 05b-socks-upstream: transparent in, SOCKS5 out (what redsocks and ipt2socks do). The gateway
# intercepts the client's connections with REDIRECT; tplab recovers each destination from the
# kernel (SO_ORIGINAL_DST) and then has to hand it on *in the protocol*: it writes it into a
# SOCKS5 CONNECT to the next proxy, microsocks on the proxy box. Both halves of the original
# text on one wire: the kernel tells tplab the destination, tplab tells the next proxy.
#
#  +-------------+     +--------------------------------+     +--------------+
#  | tpl-client  |     | tpl-gw                         |     | tpl-server   |
#  |  curl :80   |     |  nat REDIRECT -i veth-c :15001 |     |  HTTP :80    |
#  |  socat:8080 |     |  tplab proxy --mode redirect   |     |  socat :8080 |
#  |             |     |   --upstream socks5://         |     |              |
#  |             |     |     203.0.113.2:1080           |     |              |
#  |   eth0 [1]  |-----| [2] veth-c          veth-s [5] |-----| [6] eth0     |
#  | 192.0.2.2   |     | 192.0.2.1        198.51.100.1  |     | 198.51.100.2 |
#  +-------------+     |        veth-p [3] 203.0.113.1  |     +--------------+
#                      +----------------|---------------+
#                             [4] eth0 203.0.113.2 (2001:db8:3::2)
#                             tpl-proxy: microsocks -p 1080
#
# What to look at: [1] and [2] show the client talking to the server's address (it knows of no
# proxy); [3] and [4] show tplab's connection to microsocks with the SOCKS5 greeting (05 01 00)
# and CONNECT request (05 01 00 01 c6 33 64 02 00 50 = CONNECT 198.51.100.2:80); [5] and [6]
# show microsocks' connection to the server: the server sees the proxy box, 203.0.113.2.
#
# Usage: sudo labs/05b-socks-upstream.sh [--ipv4 | --ipv6] [--out DIR]
# Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP. Docs: docs/explicit-proxy.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

readonly socks_port=1080

# sent_bytes PCAP PORT: the TCP payload sent to PORT in PCAP, as hex.
sent_bytes() {
    "$lab_py" - "$1" "$2" <<'PY'
import struct, sys
path, port = sys.argv[1], int(sys.argv[2])
data = open(path, "rb").read()
endian = "<" if struct.unpack("<I", data[:4])[0] in (0xA1B2C3D4, 0xA1B23C4D) else ">"
link = struct.unpack(endian + "I", data[20:24])[0]
offset, out = 24, b""
while offset + 16 <= len(data):
    caplen = struct.unpack(endian + "I", data[offset + 8:offset + 12])[0]
    frame = data[offset + 16:offset + 16 + caplen]
    offset += 16 + caplen
    pos = {1: 14, 113: 16, 276: 20}.get(link, 0)
    if frame[pos] >> 4 == 4:
        proto, tcp = frame[pos + 9], pos + (frame[pos] & 0xF) * 4
    else:
        proto, tcp = frame[pos + 6], pos + 40
    if proto == 6 and struct.unpack("!H", frame[tcp + 2:tcp + 4])[0] == port:
        out += frame[tcp + (frame[tcp + 12] >> 4) * 4:]
print(out.hex(" "))
PY
}

parse_lab_args "$@"
setup_lab ip ss iptables ip6tables curl socat timeout python3 microsocks

for family in "${lab_families[@]}"; do
    rundir=socks-upstream-$family
    section "REDIRECT in, SOCKS5 out, $family: $rundir/"
    begin_run "$rundir" "$family" proxy-box
    start_bg "$ns_proxy" "$rundir/microsocks.log" microsocks -i "$proxy_ip" -p "$socks_port"
    wait_listening "$ns_proxy" "$socks_port" || die "microsocks is not listening"
    apply_rules "$ns_gw" --mode redirect --port "$redirect_port" --dport "$lab_ports" \
        --in-interface veth-c "--$family"
    start_proxy "$ns_gw" "$rundir" redirect "[::]:$redirect_port" -- \
        --upstream "socks5://$(endpoint "$proxy_ip" "$socks_port")"
    run_traffic "$rundir"

    section "checks, $family"
    check_eq "$rundir: both requests were answered by the server" \
        "$(grep -c '^served by server$' "$rundir/client.txt" || true)" 2
    check_eq "$rundir: the proxy recovered the destination from the kernel" \
        "$(event_field "$rundir/events.jsonl" accepted recovered_by)" \
        "$([[ $family == ipv4 ]] && echo SO_ORIGINAL_DST || echo IP6T_SO_ORIGINAL_DST)"
    check_eq "$rundir: the proxy's upstream connection went to microsocks" \
        "$(event_field "$rundir/events.jsonl" connected upstream_peer)" \
        "$(endpoint "$proxy_ip" "$socks_port")"
    pcap="$rundir/$ns_proxy-eth0.pcap"
    hex=$(sent_bytes "$pcap" "$socks_port")
    log "what tplab sent microsocks (proxy:eth0, to port $socks_port):"
    log "    ${hex:0:78}..."
    if [[ "$family" == ipv4 ]]; then
        want="05 01 00 05 01 00 01 c6 33 64 02 00 50"
    else
        want="05 01 00 05 01 00 04 20 01 0d b8 00 02 00 00 00 00 00 00 00 00 00 02 00 50"
    fi
    check_contains "$rundir: greeting and CONNECT to the server on the proxy-to-proxy leg" \
        "$hex" "$want"
    check_contains "$rundir: the server saw the proxy box" \
        "$(cat "$rundir"/*server*.http.log)" "$proxy_ip"
    end_run "$rundir" 05b-socks-upstream redirect "REDIRECT in, SOCKS5 out"
done

log ""
log "finished in ${SECONDS}s"
lab_exit
