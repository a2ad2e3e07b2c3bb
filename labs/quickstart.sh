#!/bin/bash
# Quickstart: one HTTP request through tplab in REDIRECT mode, then one in TPROXY mode, on the
# same three throwaway namespaces, and what the client, the proxy and the server each saw.
#
#  +----------------+      +------------------------------------------+      +------------------+
#  | tpl-client     |      | tpl-gw                                   |      | tpl-server       |
#  |                |      |   tplab proxy                            |      |                  |
#  |  curl          |      |   (a) redirect :15001  (b) tproxy :15002 |      |  HTTP :80        |
#  |                |      |                                          |      |  "served by      |
#  |                |      |                                          |      |   server"        |
#  |      eth0      |------| veth-c                            veth-s |------| eth0             |
#  | 192.0.2.2      |      | 192.0.2.1                   198.51.100.1 |      | 198.51.100.2     |
#  | 2001:db8:1::2  |      | 2001:db8:1::1              2001:db8:2::1 |      | 2001:db8:2::2    |
#  +----------------+      +------------------------------------------+      +------------------+
#         default route via the gateway; the gateway forwards between veth-c and veth-s
#
# The client asks for http://198.51.100.2/ and knows nothing about a proxy. In (a) a nat-table
# REDIRECT rule on the gateway rewrites the destination to the gateway's own 192.0.2.1:15001, and
# tplab gets the original destination back from conntrack with getsockopt(SO_ORIGINAL_DST). In (b)
# a mangle-table TPROXY rule plus a policy route deliver the packet, unchanged, to a listener with
# IP_TRANSPARENT on port 15002: the accepted socket's local address IS the server's address, so
# getsockname() is the answer. Both times the server replies with its own name, which proves the
# reply came from it, and logs the peer it saw: the proxy's upstream socket on 198.51.100.1.
#
# Run as root: sudo labs/quickstart.sh (about 2 s). Exit 0 if every check passes, 1 on a FAIL,
# 4 on SKIP. To keep the logs and JSON events: sudo LAB_OUTPUT=/tmp/quickstart labs/quickstart.sh
# To stop after each request and look around: sudo LAB_PAUSE=1 labs/quickstart.sh
# Docs: docs/labs/quickstart.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

require_root
require_tool ip ss iptables curl timeout python3
use_tplab
init_workdir
log "logs and events: $lab_work"
log "commands are shown as [ns] # CMD; to type one yourself: ip netns exec ${LAB_PREFIX}-<ns> CMD"

section "topology"
build_topology
start_name_server "$ns_server" server 80 server.log

# Results per mode, for the summary at the end.
declare -A reply local_addr recovered_by original_dst server_peer upstream_local client_remote

# conntrack_show: the gateway's view of port-80 flows, if conntrack-tools is installed.
conntrack_show() {
    command -v conntrack >/dev/null 2>&1 || return 0
    local flows line
    log "gateway: the kernel's connection tracking table"
    flows=$(run "$ns_gw" conntrack -L -p tcp --dport 80 2>/dev/null || true)
    if [[ -n "$flows" ]]; then
        while IFS= read -r line; do
            log "    $line"
        done <<<"$flows"
    else
        log "    (empty: no rule in $ns_gw uses conntrack now, so this namespace tracks no flows."
        log "     TPROXY does not need conntrack; REDIRECT is NAT, and NAT is built on it.)"
    fi
}

declare -A mode_pid   # the running tplab proxy of each mode

# start_mode_proxy MODE PORT: tplab proxy --mode MODE on the gateway, listening on PORT, with its
# events in MODE.jsonl and its log in MODE.log; waits until it listens.
start_mode_proxy() {
    local mode=$1 port=$2
    start_bg "$ns_gw" "$mode.log" \
        tplab proxy --mode "$mode" --listen "0.0.0.0:$port" --events "$mode.jsonl"
    mode_pid[$mode]=$bg_pid
    wait_listening "$ns_gw" "$port" || { cat "$mode.log"; die "tplab ($mode) is not listening"; }
}

# stop_mode_proxy MODE: SIGTERM makes tplab drain and exit 0.
stop_mode_proxy() {
    local mode=$1 rc=0
    log "stopping tplab with SIGTERM (it lets open connections finish, then exits 0)"
    stop_bg "${mode_pid[$mode]}" TERM || rc=$?
    check_eq "$mode: tplab exited cleanly on SIGTERM" "$rc" 0
}

# request_and_report MODE: one curl from the client, then what each side saw (from the server's
# log and the proxy's events in MODE.jsonl).
request_and_report() {
    local mode=$1 events=$1.jsonl proxy_log=$1.log
    local curl_out="$mode.curl" requests_before
    requests_before=$(grep -c 'peer=' server.log || true)

    run "$ns_client" curl --noproxy '*' -sS --max-time 5 \
        -w 'curl: connected to %{remote_ip}:%{remote_port}\n' "http://$server_ip4/" >"$curl_out" 2>&1 || true
    lab_indent "$curl_out"

    # The proxy writes "closed" just after the client got its reply; wait for it if it accepted.
    if lab_file_has "$events" '"event":"accepted"'; then
        wait_for_line "$events" '"event":"closed"' || true
    fi
    reply[$mode]=$(grep -m1 '^served by' "$curl_out" || true)
    client_remote[$mode]=$(sed -n 's/^curl: connected to \(..*:[0-9][0-9]*\)$/\1/p' "$curl_out")
    [[ "${client_remote[$mode]}" == ":0" ]] && client_remote[$mode]=""
    local_addr[$mode]=$(event_field "$events" accepted local)
    recovered_by[$mode]=$(event_field "$events" accepted recovered_by)
    original_dst[$mode]=$(event_field "$events" accepted original_dst)
    upstream_local[$mode]=$(event_field "$events" connected upstream_local)
    local client upstream_peer close_reason
    client=$(event_field "$events" accepted client)
    upstream_peer=$(event_field "$events" connected upstream_peer)
    close_reason=$(event_field "$events" closed reason)
    local server_line
    server_line=$(grep 'peer=' server.log | sed -n "$((requests_before + 1))p")
    server_peer[$mode]=$(sed -n 's/.*peer=\([^ ]*\).*/\1/p' <<<"$server_line")

    log ""
    log "what each side saw:"
    printf '  %-8s %-28s %s\n' \
        client "connected to (curl)" "${client_remote[$mode]:-?}" \
        proxy "accepted: client" "${client:-?}" \
        "" "accepted: local" "${local_addr[$mode]:-?}" \
        "" "accepted: original_dst" "${original_dst[$mode]:-?}" \
        "" "accepted: recovered_by" "${recovered_by[$mode]:-?}" \
        "" "connected: upstream_local" "${upstream_local[$mode]:-?}" \
        "" "connected: upstream_peer" "${upstream_peer:-?}" \
        "" "closed: reason" "${close_reason:-?}" \
        server "peer (its log line below)" "${server_peer[$mode]:-?}"
    log "    ${server_line:-(no request logged by the server)}"
    if [[ -z "${local_addr[$mode]}" ]]; then
        log "  (tplab reported no accepted connection; its log, $proxy_log:)"
        lab_indent "$proxy_log"
    fi
    conntrack_show
}

section "(a) REDIRECT: nat table, destination rewritten, recovered with SO_ORIGINAL_DST"
redirect_rule=(PREROUTING -i veth-c -p tcp --dport 80 -j REDIRECT --to-ports "$redirect_port")
run "$ns_gw" iptables -t nat -A "${redirect_rule[@]}"
start_mode_proxy redirect "$redirect_port"
request_and_report redirect
pause_here
log ""
run "$ns_gw" iptables -t nat -D "${redirect_rule[@]}"
stop_mode_proxy redirect

section "(b) TPROXY: mangle table, nothing rewritten, destination = getsockname()"
if command -v conntrack >/dev/null 2>&1; then
    log "(forget the flows of (a), so the table below shows only this request)"
    run "$ns_gw" conntrack -F 2>/dev/null || true
fi
tproxy_rule=(PREROUTING -i veth-c -p tcp --dport 80 -j TPROXY --on-port "$tproxy_port"
    --tproxy-mark "$tproxy_mark/$tproxy_mark")
run "$ns_gw" iptables -t mangle -A "${tproxy_rule[@]}"
# Without these two, TPROXY only marks the packet and routing forwards it past the proxy: the
# marked packet must be routed to the local stack ("local" route via lo) to reach the listener.
log "(TPROXY only marks the packet and ties it to the listener; these two deliver marked packets locally)"
run "$ns_gw" ip rule add fwmark "$tproxy_mark/$tproxy_mark" lookup "$tproxy_table"
run "$ns_gw" ip route add local 0.0.0.0/0 dev lo table "$tproxy_table"
start_mode_proxy tproxy "$tproxy_port"
request_and_report tproxy
pause_here
log ""
run "$ns_gw" iptables -t mangle -D "${tproxy_rule[@]}"
run "$ns_gw" ip rule del fwmark "$tproxy_mark/$tproxy_mark" lookup "$tproxy_table"
run "$ns_gw" ip route del local 0.0.0.0/0 dev lo table "$tproxy_table"
stop_mode_proxy tproxy

section "side by side"
summary_row() {
    printf '  %-32s %-20s %s\n' "$1" "$2" "$3"
}
summary_row "" "REDIRECT (nat)" "TPROXY (mangle)"
summary_row "client connected to" "${client_remote[redirect]:-?}" "${client_remote[tproxy]:-?}"
summary_row "accepted socket's local address" "${local_addr[redirect]:-?}" "${local_addr[tproxy]:-?}"
summary_row "destination recovered by" "${recovered_by[redirect]:-?}" "${recovered_by[tproxy]:-?}"
summary_row "original destination" "${original_dst[redirect]:-?}" "${original_dst[tproxy]:-?}"
summary_row "server saw a connection from" "${server_peer[redirect]:-?}" "${server_peer[tproxy]:-?}"

section "checks"
declare -A want_local=([redirect]="$gw_client_ip4:$redirect_port" [tproxy]="$server_ip4:80")
declare -A whose_local=([redirect]="the gateway's own address" [tproxy]="still the server's address")
for mode in redirect tproxy; do
    check_eq "$mode: the reply came from the server" "${reply[$mode]}" "served by server"
    check_eq "$mode: the server's peer is the proxy's upstream socket" \
        "${server_peer[$mode]:-none}" "${upstream_local[$mode]:-no connected event}"
    check_eq "$mode: accepted local is ${whose_local[$mode]}" "${local_addr[$mode]}" "${want_local[$mode]}"
    check_eq "$mode: original_dst is the server" "${original_dst[$mode]}" "$server_ip4:80"
done
lab_exit
