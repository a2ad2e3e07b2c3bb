#!/bin/bash
# trace: one connection's path through the gateway's kernel, for one interception mode or one
# classic pitfall, as `tplab trace` shows it: each hook, table, chain and rule with its verdict,
# the routing step, the socket lookup, and the kernel's drop reason where the packet dies.
#
#  +-----------------+      +-------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                    |      | tpl-server       |
#  |  curl :80       |      |  the CASE's rules and proxy               |      |  HTTP :80        |
#  |                 |      |  tplab trace --port 80 (nft trace +       |      |  "served by      |
#  |                 |      |   skb:kfree_skb), then everything off     |      |   server"        |
#  |       eth0      |------| veth-c                            veth-s  |------| eth0             |
#  | 192.0.2.2       |      | 192.0.2.1                    198.51.100.1 |      | 198.51.100.2     |
#  | 2001:db8:1::2   |      | 2001:db8:1::1               2001:db8:2::1 |      | 2001:db8:2::2    |
#  +-----------------+      +-------------------------------------------+      +------------------+
#
# Modes (the connection works): redirect (nat PREROUTING REDIRECT to :15001), tproxy (mangle
# PREROUTING TPROXY to :15002, mark 0x1, ip rule + local route), sk-lookup (a BPF program picks
# the proxy's socket: no rule at all), socks5 (the explicit proxy: two ordinary connections).
# Pitfalls (the connection fails or bypasses the proxy, silently; the trace says where and why):
#   no-ip-rule               TPROXY marks, no fwmark ip rule: routing forwards a packet that
#                            carries a socket, and the forward path drops it
#   no-local-route           the ip rule is there, table 100 has no local route: the same
#   no-transparent-listener  the listener lacks IP_TRANSPARENT: the TPROXY target's own drop
#   nft-tproxy-no-socket     nft's tproxy statement finds no socket: the rule does not match and
#                            the packet goes on, straight to the server
#   nft-no-transparent-listener  the same nft rule, and a listener without IP_TRANSPARENT
#   unscoped-rule            the seed's `-p tcp -j TPROXY` with no -i/--dport: it catches the
#                            server's SYN-ACK to the proxy's own upstream connection, and drops it
#   mark-mismatch            TPROXY sets mark 0x1, the ip rule looks for 0x2
#   rp-filter                strict rp_filter with src_valid_mark=1: the marked SYN's source is
#                            "local" in table 100, so it fails the reverse-path check
#
# Usage: sudo labs/trace.sh CASE [--ipv6] [--json FILE]
#   CASE         one of the modes or pitfalls above
#   --ipv6       trace over IPv6 (default IPv4)
#   --json FILE  also write tplab trace --json to FILE
# Takes 3-8 s. Exit 0 when the trace ran (whatever it found), 1 if it could not, 4 on SKIP.
# Docs: docs/trace.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

readonly trace_cases="redirect tproxy sk-lookup socks5 no-ip-rule no-local-route
no-transparent-listener nft-tproxy-no-socket nft-no-transparent-listener unscoped-rule
mark-mismatch rp-filter"
readonly socks_port=1080

trace_case=""
trace_family=ipv4
trace_json=""
while (($# > 0)); do
    case "$1" in
    --ipv6 | -6) trace_family=ipv6 ;;
    --ipv4 | -4) trace_family=ipv4 ;;
    --json)
        (($# >= 2)) || { printf 'ERROR: --json needs a file\n' >&2; exit 2; }
        trace_json=$(readlink -f "$2")
        shift
        ;;
    -h | --help)
        lab_usage
        exit 0
        ;;
    -*)
        printf 'ERROR: unknown argument %s (see %s --help)\n' "$1" "$0" >&2
        exit 2
        ;;
    *)
        [[ -z "$trace_case" ]] || { printf 'ERROR: one CASE only (got %s and %s)\n' "$trace_case" "$1" >&2; exit 2; }
        trace_case=$1
        ;;
    esac
    shift
done
if [[ -z "$trace_case" || " ${trace_cases//$'\n'/ } " != *" $trace_case "* ]]; then
    printf 'ERROR: CASE must be one of: %s (got "%s")\n' "${trace_cases//$'\n'/ }" "$trace_case" >&2
    exit 2
fi

require_root
require_tool ip nft iptables ip6tables curl socat timeout python3
use_tplab
init_workdir
use_family "$trace_family"
build_topology
start_name_server "$ns_server" server "$lab_http_port" server.log

# tproxy_rules [MARK_IN_RULE]: tplab's TPROXY rule set, scoped to the client's interface and
# port 80 (the DIVERT fast path, the TPROXY rule, the fwmark ip rule and table 100's local route).
tproxy_rules() {
    apply_rules "$ns_gw" --mode tproxy --port "$tproxy_port" --dport "$lab_http_port" \
        --in-interface veth-c "--$fam"
}

# policy_routing MARK: the fwmark ip rule and the local route, by hand.
policy_routing() {
    run "$ns_gw" ip "$ip_f" rule add fwmark "$1/$1" lookup "$tproxy_table"
    run "$ns_gw" ip "$ip_f" route add local "$any_net" dev lo table "$tproxy_table"
}

tproxy_proxy() {
    start_proxy "$ns_gw" . tproxy "0.0.0.0:$tproxy_port" "[::]:$tproxy_port"
}

# plain_listener: an ordinary socket on the TPROXY port, without IP_TRANSPARENT (socat).
plain_listener() {
    log "the listener: an ordinary socket on :$tproxy_port, without IP_TRANSPARENT"
    start_bg "$ns_gw" listener.log socat "TCP6-LISTEN:$tproxy_port,ipv6only=0,fork,reuseaddr" \
        "SYSTEM:echo served by a listener without IP_TRANSPARENT"
    wait_listening "$ns_gw" "$tproxy_port" || die "socat did not listen on $tproxy_port"
}

trace_ports=(--port "$lab_http_port")
client_cmd=(curl --noproxy '*' -sS --max-time 3 "http://$server_host:$lab_http_port/")

section "$trace_case, $fam_name: set-up"
case "$trace_case" in
redirect)
    apply_rules "$ns_gw" --mode redirect --port "$redirect_port" --dport "$lab_http_port" \
        --in-interface veth-c "--$fam"
    start_proxy "$ns_gw" . redirect "[::]:$redirect_port"
    ;;
tproxy)
    tproxy_rules
    tproxy_proxy
    ;;
sk-lookup)
    apply_rules "$ns_gw" --mode sk-lookup --in-interface veth-c --dport "$lab_http_port" "--$fam"
    start_proxy "$ns_gw" . sk-lookup "[::]:$redirect_port" -- --dport "$lab_http_port"
    ;;
socks5)
    start_proxy "$ns_gw" . socks5 "$(endpoint "$gw_client_ip" "$socks_port")"
    trace_ports+=(--port "$socks_port")
    client_cmd=(curl -sS --max-time 3 --socks5 "$(endpoint "$gw_client_ip" "$socks_port")"
        "http://$server_host:$lab_http_port/")
    ;;
no-ip-rule)
    tproxy_rules
    tproxy_proxy
    log "break it: delete the fwmark ip rule"
    run "$ns_gw" ip "$ip_f" rule del fwmark "$tproxy_mark/$tproxy_mark" lookup "$tproxy_table"
    ;;
no-local-route)
    tproxy_rules
    tproxy_proxy
    log "break it: delete table $tproxy_table's local route"
    run "$ns_gw" ip "$ip_f" route del local "$any_net" dev lo table "$tproxy_table"
    ;;
no-transparent-listener)
    run "$ns_gw" "$ipt" -t mangle -A PREROUTING -i veth-c -p tcp --dport "$lab_http_port" \
        -j TPROXY --on-port "$tproxy_port" --tproxy-mark "$tproxy_mark/$tproxy_mark"
    policy_routing "$tproxy_mark"
    plain_listener
    ;;
nft-tproxy-no-socket | nft-no-transparent-listener)
    nft_family=ip
    [[ "$fam" == ipv6 ]] && nft_family=ip6
    run "$ns_gw" nft add table inet tproxy_lab
    run "$ns_gw" nft add chain inet tproxy_lab prerouting \
        '{ type filter hook prerouting priority mangle; }'
    run "$ns_gw" nft add rule inet tproxy_lab prerouting iifname veth-c meta l4proto tcp \
        th dport "$lab_http_port" tproxy "$nft_family" to ":$tproxy_port" meta mark set "$tproxy_mark" accept
    policy_routing "$tproxy_mark"
    if [[ "$trace_case" == nft-tproxy-no-socket ]]; then
        log "(no proxy listens on :$tproxy_port)"
    else
        plain_listener
    fi
    ;;
unscoped-rule)
    log "the seed's rule: every TCP packet, any interface, any port, no socket fast path"
    run "$ns_gw" "$ipt" -t mangle -A PREROUTING -p tcp \
        -j TPROXY --on-port "$tproxy_port" --tproxy-mark "$tproxy_mark/$tproxy_mark"
    policy_routing "$tproxy_mark"
    tproxy_proxy
    ;;
mark-mismatch)
    run "$ns_gw" "$ipt" -t mangle -A PREROUTING -i veth-c -p tcp --dport "$lab_http_port" \
        -j TPROXY --on-port "$tproxy_port" --tproxy-mark "$tproxy_mark/$tproxy_mark"
    policy_routing 0x2
    tproxy_proxy
    ;;
rp-filter)
    [[ "$fam" == ipv4 ]] || skip "rp_filter and src_valid_mark are IPv4 sysctls"
    tproxy_rules
    tproxy_proxy
    log "break it: strict reverse-path filtering that counts the mark"
    run "$ns_gw" sysctl -q -w net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.veth-c.rp_filter=1 \
        net.ipv4.conf.all.src_valid_mark=1
    ;;
esac

section "$trace_case, $fam_name: the trace of the first connection"
trace_args=(--netns "$ns_gw" "${trace_ports[@]}" --timeout 15)
[[ "$fam" == ipv6 ]] && trace_args+=(--family 6) || trace_args+=(--family 4)
show_cmd - "" tplab trace "${trace_args[@]}" -- ip netns exec "$ns_client" "${client_cmd[@]}"
[[ -n "$trace_json" ]] && trace_args+=(--json-file "$trace_json")
trace_rc=0
tplab trace "${trace_args[@]}" -- ip netns exec "$ns_client" "${client_cmd[@]}" || trace_rc=$?
check_eq "tplab trace ran and cleaned up (exit status)" "$trace_rc" 0
lab_exit
