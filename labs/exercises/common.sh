# shellcheck shell=bash disable=SC2154,SC2034  # lib.sh's names (ns_gw, tproxy_mark, ...)
# What the break-and-fix exercises share: the working gateways they start from (TPROXY and
# REDIRECT), the servers, and the grading (tplab doctor plus real flows). Sourced by
# labs/exercise.sh after labs/lib.sh; IPv4 only, on lib.sh's standard topology.

# The proxy ports and the mark/table of a correct gateway: the same as the labs'.
ex_tproxy_port=$tproxy_port    # 15002
ex_redirect_port=$redirect_port  # 15001
ex_gw_service_port=2222        # a service of the gateway itself (think sshd)

#### Building blocks of a gateway ##############################################

# ex_policy_routing MARK/MASK TABLE: the ip rule and the local route TPROXY needs.
ex_policy_routing() {
    run "$ns_gw" ip rule add fwmark "$1" lookup "$2"
    run "$ns_gw" ip route add local 0.0.0.0/0 dev lo table "$2"
}

# ex_divert_chain MARK: the kernel documentation's guard (tproxy.rst): packets of flows that
# already have a transparent socket are marked and accepted before any TPROXY rule.
ex_divert_chain() {
    run "$ns_gw" iptables -t mangle -N DIVERT
    run "$ns_gw" iptables -t mangle -A DIVERT -j MARK --set-mark "$1"
    run "$ns_gw" iptables -t mangle -A DIVERT -j ACCEPT
    run "$ns_gw" iptables -t mangle -A PREROUTING -p tcp -m socket --transparent -j DIVERT
}

# ex_tproxy_rule PORT MARK/MASK: the scoped TPROXY rule (client side, port 80 only).
ex_tproxy_rule() {
    run "$ns_gw" iptables -t mangle -A PREROUTING -i veth-c -p tcp --dport "$lab_http_port" \
        -j TPROXY --on-port "$1" --tproxy-mark "$2"
}

# ex_tproxy_proxy PORT: tplab proxy --mode tproxy listening on 0.0.0.0:PORT.
ex_tproxy_proxy() {
    start_bg "$ns_gw" proxy.log tplab proxy --mode tproxy --listen "0.0.0.0:$1" --events events.jsonl
    wait_listening "$ns_gw" "$1" || { cat proxy.log >&2; die "tplab proxy did not listen on $1"; }
}

# ex_tproxy_gateway: a working TPROXY gateway, as labs/04-tproxy.sh builds it (IPv4).
ex_tproxy_gateway() {
    ex_policy_routing "$tproxy_mark/$tproxy_mark" "$tproxy_table"
    ex_divert_chain "$tproxy_mark"
    ex_tproxy_rule "$ex_tproxy_port" "$tproxy_mark/$tproxy_mark"
    ex_tproxy_proxy "$ex_tproxy_port"
}

# ex_gateway_service: an HTTP server of the gateway itself on 2222 ("served by gw").
ex_gateway_service() {
    start_name_server "$ns_gw" gw "$ex_gw_service_port" gw.http.log
}

#### The flows --check sends ######################################################

# ex_fail / ex_pass MESSAGE: lib.sh's fail/pass, the message wrapped to fit 100 columns.
ex_wrap() {
    printf '%s' "$1" | fold -s -w 92 | sed 's/ *$//; 2,$s/^/      /'
}
ex_fail() {
    fail "$(ex_wrap "$1")"
}
ex_pass() {
    pass "$(ex_wrap "$1")"
}

ex_curl_out=""

# ex_curl NS URL: one request, 3 s at most; sets ex_curl_out to what curl printed (one line).
ex_curl() {
    local ns=$1 url=$2 rc=0
    ex_curl_out=$(ip netns exec "$ns" curl --noproxy '*' -sS --max-time 3 "$url" 2>&1) || rc=$?
    ex_curl_out=${ex_curl_out//$'\n'/ }
    return "$rc"
}

# ex_counter TABLE CHAIN TARGET: the packets counted by every TARGET rule of CHAIN in TABLE.
ex_counter() {
    ip netns exec "$ns_gw" iptables-save -c -t "$1" 2>/dev/null |
        awk -v chain="$2" -v target="$3" '
            $2 == "-A" && $3 == chain && index($0, " -j " target " ") {
                split(substr($1, 2), c, ":"); n += c[1]
            }
            END { print n + 0 }'
}

# ex_last_peer: the address the server saw the last request come from (its log).
ex_last_peer() {
    server_log_peers_last "$ex_dir/server.http.log"
}

server_log_peers_last() {
    sed -n 's/^[^:]*: peer=\(.*\):[0-9]* local=.*/\1/p' "$1" | tail -n1 | tr -d '[]'
}

# ex_check_client_flow: the client's request to the server is answered by the server, and was
# proxied: the server saw the gateway's address (a proxy connects from its own), not the client's.
ex_check_client_flow() {
    local url="http://$server_ip4/" peer
    if ! ex_curl "$ns_client" "$url"; then
        ex_fail "client -> $url: $ex_curl_out"
        return
    fi
    if [[ "$ex_curl_out" != "served by server" ]]; then
        ex_fail "client -> $url: got '$ex_curl_out', want 'served by server'"
        return
    fi
    peer=$(ex_last_peer)
    if [[ "$peer" == "$client_ip4" ]]; then
        ex_fail "client -> $url answered, but the server saw $client_ip4: forwarded, not proxied"
        return
    fi
    ex_pass "client -> $url: served by server, through the proxy (server saw $peer)"
}

# ex_check_gateway_flow: the gateway's own request to the server works.
ex_check_gateway_flow() {
    local url="http://$server_ip4/"
    if ex_curl "$ns_gw" "$url" && [[ "$ex_curl_out" == "served by server" ]]; then
        ex_pass "gateway -> $url: served by server"
    else
        ex_fail "gateway -> $url: ${ex_curl_out:-no answer}"
    fi
}

# ex_check_gateway_service: the client reaches the gateway's own service on port 2222.
ex_check_gateway_service() {
    local url="http://$gw_client_ip4:$ex_gw_service_port/"
    if ex_curl "$ns_client" "$url" && [[ "$ex_curl_out" == "served by gw" ]]; then
        ex_pass "client -> the gateway's own service $url: served by gw"
    else
        ex_fail "client -> the gateway's own service $url: ${ex_curl_out:-no answer}"
    fi
}

# ex_rule_ports TABLE TARGET OPTION: the distinct ports of the TARGET rules (e.g. mangle TPROXY
# --on-port, nat REDIRECT --to-ports) in the gateway's iptables, one per line.
ex_rule_ports() {
    ip netns exec "$ns_gw" iptables-save -t "$1" 2>/dev/null |
        grep -- "-j $2 " | grep -o -- "$3 [0-9]*" | awk '{print $2}' | sort -u
}

# ex_check_doctor MODE TABLE TARGET OPTION: tplab doctor --mode MODE --port P for each port P the
# gateway's TARGET rules send to: PASS without a FAIL finding, else FAIL with each finding.
ex_check_doctor() {
    local mode=$1 ports port rc fails
    ports=$(ex_rule_ports "$2" "$3" "$4")
    if [[ -z "$ports" ]]; then
        ex_fail "tplab doctor: no $3 rule in the gateway's $2 table: nothing sends traffic to a proxy"
        return
    fi
    for port in $ports; do
        rc=0
        ip netns exec "$ns_gw" tplab doctor --mode "$mode" --port "$port" --json >doctor.json 2>&1 || rc=$?
        fails=$("$lab_py" - doctor.json <<'EOF'
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except (OSError, ValueError) as e:
    print(f"(unreadable doctor output: {e})"); sys.exit(0)
for f in data.get("findings", []):
    if f.get("severity") == "FAIL" or str(f.get("severity")).lower() == "fail":
        print(f"{f['id']}: {f.get('summary', '')}")
EOF
)
        if [[ -z "$fails" ]]; then
            ex_pass "tplab doctor --mode $mode --port $port: no failure (exit status $rc)"
        else
            while IFS= read -r line; do
                ex_fail "tplab doctor --mode $mode --port $port: $line"
            done <<<"$fails"
        fi
    done
}
