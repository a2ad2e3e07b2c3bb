#!/bin/bash
# 06b-proxy-protocol: the other way to tell the server who the client is. Instead of binding the
# client's address upstream (--spoof-source, lab 06), tplab proxy --send-proxy v2 starts the
# upstream connection with a PROXY protocol header naming the client; nginx, told to expect it,
# logs the client from the header while the connection itself comes from the gateway.
#
#  +-----------------+      +-------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                    |      | tpl-server       |
#  |  curl :8081     |      |  tplab rules --mode tproxy                |      |  nginx           |
#  |  curl :8082     |      |    --dport 8081,8082                      |      |   :8081 expects  |
#  |                 |      |  tplab proxy --mode tproxy :15002         |      |    proxy_protocol|
#  |                 |      |    run 1: --send-proxy v2                 |      |   :8082 plain    |
#  |                 |      |    run 2: --spoof-source                  |      |                  |
#  |       eth0      |------|     veth-c                     veth-s     |------| [1] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1                    198.51.100.1 |      | 198.51.100.2     |
#  +-----------------+      +-------------------------------------------+      +------------------+
#   [1]: capture point (tplab capture), where the header can be seen on the wire
#
# nginx logs "$remote_addr header=$proxy_protocol_addr:$proxy_protocol_port" for each request.
# Run 1 (--send-proxy v2): through :8081 the peer is the gateway and the header names the client;
# the capture at [1] shows the header's 12-byte signature (0d0a 0d0a 000d 0a51 5549 540a) at the
# start of the upstream connection. Through :8082, a server that does not expect the header reads
# it as the start of a request: 400 Bad Request. And a connection to :8081 without a header (the
# gateway's own curl, which no rule intercepts) is refused by nginx: "broken header". Run 2
# (--spoof-source): no header; the plain :8081-less server on :8082 sees the client as the peer,
# at the price of the return-path rules and routing. IPv4 only.
#
# Usage: sudo labs/06b-proxy-protocol.sh [--out DIR]
#   --out DIR       keep the run directories (pcaps, nginx logs, events) in DIR (default: a temp
#                   dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 5 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP.
# Docs: docs/proxy-protocol.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
setup_lab ip ss iptables curl timeout nginx tcpdump

readonly pp_port=8081 plain_port=8082

# start_nginx RUNDIR: nginx in the server namespace, :8081 with proxy_protocol, :8082 without.
start_nginx() {
    local dir
    dir=$(readlink -f "$1")/nginx
    mkdir -p "$dir/www"
    printf 'served by nginx\n' >"$dir/www/index.html"
    cat >"$dir/nginx.conf" <<EOF
user root;
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log info;
events { worker_connections 64; }
http {
    log_format who 'port=\$server_port peer=\$remote_addr header=\$proxy_protocol_addr:\$proxy_protocol_port "\$request" \$status';
    access_log $dir/access.log who;
    client_body_temp_path $dir;
    server { listen $pp_port proxy_protocol; root $dir/www; }
    server { listen $plain_port; root $dir/www; }
}
EOF
    start_bg "$ns_server" "$1/nginx.log" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
    wait_listening "$ns_server" "$pp_port" || die "nginx did not listen on $pp_port"
}

# one_run RUNDIR PROXY_OPTION [RULES_OPTION]: rules, nginx, the proxy, and the three requests.
one_run() {
    local rundir=$1 proxy_option=$2 rules_option=(${3:+"$3"}) option_words
    read -r -a option_words <<<"$proxy_option"
    begin_run "$rundir" ipv4
    apply_rules "$ns_gw" --mode tproxy --port "$tproxy_port" --dport "$pp_port,$plain_port" \
        --in-interface veth-c --ipv4 "${rules_option[@]}"
    start_nginx "$rundir"
    start_proxy "$ns_gw" "$rundir" tproxy "0.0.0.0:$tproxy_port" -- "${option_words[@]}" --mark 2
    start_capture "$rundir" "$ns_server:eth0"
    run "$ns_client" curl -sS --max-time 5 "http://$server_ip:$pp_port/" >"$rundir/pp.out" 2>&1 || true
    lab_indent <"$rundir/pp.out"
    run "$ns_client" curl -sS --max-time 5 -o /dev/null -w 'HTTP %{http_code}\n' \
        "http://$server_ip:$plain_port/" >"$rundir/plain.out" 2>&1 || true
    lab_indent <"$rundir/plain.out"
    log "(the gateway's own connection: no rule intercepts it, so it carries no header)"
    run "$ns_gw" curl -sS --max-time 5 "http://$server_ip:$pp_port/" >"$rundir/noheader.out" 2>&1 || true
    lab_indent <"$rundir/noheader.out"
    stop_capture
    stop_proxy "$rundir"
    log "nginx's access log (peer: the connection's source; header: the PROXY protocol's):"
    lab_indent <"$rundir/nginx/access.log"
    log "nginx's error log, the request without a header:"
    grep -aE 'broken header' "$rundir/nginx/error.log" | sed 's/^.*\[error\]/[error]/' | cut -c1-96 |
        lab_indent || true
    log "the first bytes the server received on :$pp_port (tcpdump -X of the capture at [1]):"
    tcpdump -nr "$rundir/${ns_server}-eth0.pcap" -X -c 1 \
        "tcp dst port $pp_port and (tcp[((tcp[12] & 0xf0) >> 2):4] = 0x0d0a0d0a \
         or tcp[((tcp[12] & 0xf0) >> 2):4] = 0x47455420)" 2>/dev/null |
        sed -n '2,8p' | sed 's/^[[:space:]]*//' >"$rundir/first-bytes.txt" || true
    lab_indent <"$rundir/first-bytes.txt"
    teardown_ns "${lab_ns_list[@]}"
}

section "run 1: tplab proxy --send-proxy v2"
one_run pp-ipv4 "--send-proxy v2"
section "run 2: tplab proxy --spoof-source (no header)"
one_run spoof-ipv4 --spoof-source --spoof-source  # the proxy's option, then the rules'

section "checks (from nginx's logs, curl, and the capture)"
log_line() { grep -F "port=$2 " "$1/nginx/access.log" | grep -F "$3" | head -1; }
got=$(log_line pp-ipv4 "$pp_port" "GET / ")
check_contains "with the header, nginx on :$pp_port saw the gateway as peer" "$got" "peer=$gw_server_ip4 "
check_contains "and the client in the header" "$got" "header=$client_ip4:"
check_eq "the client got the page through :$pp_port" "$(cat pp-ipv4/pp.out)" "served by nginx"
check_eq "the header sent to a server that does not expect it: 400 Bad Request" \
    "$(cat pp-ipv4/plain.out)" "HTTP 400"
check "a connection without the header was refused by nginx (broken header)" \
    grep -aq 'broken header' pp-ipv4/nginx/error.log
# signature_packets RUNDIR: packets to :8081 at server:eth0 whose payload starts with the v2
# signature (0d0a0d0a 000d0a51 5549540a).
signature_packets() {
    local payload='((tcp[12] & 0xf0) >> 2)'
    tcpdump -nr "$1/${ns_server}-eth0.pcap" "tcp dst port $pp_port and tcp[$payload:4] = 0x0d0a0d0a \
        and tcp[$payload + 4:4] = 0x000d0a51 and tcp[$payload + 8:4] = 0x5549540a" 2>/dev/null | wc -l
}
check "the capture at server:eth0: the upstream connection starts with the v2 signature" \
    test "$(signature_packets pp-ipv4)" -ge 1
check_eq "without --send-proxy, no packet carries it" "$(signature_packets spoof-ipv4)" 0
got=$(log_line spoof-ipv4 "$plain_port" "GET / ")
check_contains "with --spoof-source, nginx on :$plain_port saw the client as peer" "$got" "peer=$client_ip4 "
check_eq "the client got the page through :$plain_port" "$(cat spoof-ipv4/plain.out)" "HTTP 200"

log ""
log "finished in ${SECONDS}s"
lab_exit
