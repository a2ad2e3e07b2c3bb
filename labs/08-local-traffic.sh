#!/bin/bash
# 08-local-traffic: the gateway's OWN connections (curl run on the gateway) intercepted, by
# REDIRECT in nat OUTPUT and by TPROXY through a mark in mangle OUTPUT; then the proxy's own
# exemption removed on purpose, to watch the loop guard refuse the loop and the proxy survive.
#
#  +-----------------+      +------------------------------------------------+      +-----------------+
#  | tpl-client      |      | tpl-gw                                         |      | tpl-server      |
#  |  curl :80       |      |  curl :80 (the gateway's own traffic: OUTPUT)  |      |  HTTP :80       |
#  |  socat :8080    |      |  tplab rules --local --mark 2:                 |      |  socat :8080    |
#  |                 |      |   OUTPUT -m mark --mark 0x2 -j RETURN (exempt) |      |  logs the peer  |
#  |                 |      |   REDIRECT: nat OUTPUT -j REDIRECT :15001      |      |                 |
#  |                 |      |   TPROXY: mangle OUTPUT -j MARK 0x1 -> ip rule |      |                 |
#  |                 |      |     -> lo -> PREROUTING -j TPROXY :15002       |      |                 |
#  |                 |      |  tplab proxy --mark 2 (SO_MARK on upstream)    |      |                 |
#  |       eth0 [1]  |------| [2] veth-c                          veth-s [3] |------| [4] eth0        |
#  | 192.0.2.2       |      | 192.0.2.1                         198.51.100.1 |      | 198.51.100.2    |
#  | 2001:db8:1::2   |      | 2001:db8:1::1                    2001:db8:2::1 |      | 2001:db8:2::2   |
#  +-----------------+      +------------------------------------------------+      +-----------------+
#   [1]..[4]: capture points (tplab capture) for the client's traffic, in path order
#
# A packet the gateway sends itself never passes PREROUTING. REDIRECT has a place in nat OUTPUT
# (it redirects to 127.0.0.1 / ::1 there); TPROXY exists only in PREROUTING, so the gateway's
# packets are marked in mangle OUTPUT, which makes the kernel reroute them: the fwmark ip rule
# sends them to table 100, whose local route delivers them through lo, where they pass
# PREROUTING and meet the TPROXY rule. Either way the proxy's own upstream connection, also sent
# by the gateway, would be intercepted again: an endless loop. tplab proxy --mark 2 sets SO_MARK
# 2 on its upstream sockets, and the first OUTPUT rule tplab rules --local writes lets mark 0x2
# through. The lab deletes just that rule: every request then loops once, and the proxy's loop
# guard (its own upstream connection coming back at it) refuses it with a loop_refused event,
# keeps serving, and keeps its file descriptors bounded. tplab rules --apply puts the rule back
# in its place (before the interception). Runs: local-redirect-, local-tproxy- per family.
# Checks come from the proxy's events, the server's log, /proc/PID/fd, iptables and the report.
#
# Usage: sudo labs/08-local-traffic.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       keep the run directories and report.txt / report.json / report.html in DIR
#                   (default: a temp dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 20 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP.
# Docs: docs/labs/08-local-traffic.md, docs/rules.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
setup_lab ip ss iptables ip6tables curl socat timeout python3 conntrack pgrep

readonly proxy_mark=2 loop_requests=20
own_dirs=()       # the run directories of the gateway's own request (own_capture_end)
client_points=()  # the client's capture points, put back after the gateway's own capture
declare -A port_of=([tproxy]=$tproxy_port [redirect]=$redirect_port)
declare -A table_of=([tproxy]=mangle [redirect]=nat)

# gw_curl RUNDIR: one request from the gateway itself to the server, output appended to
# RUNDIR/gw-curl.txt; returns curl's status.
gw_curl() {
    run "$ns_gw" curl --noproxy '*' -sS --max-time 3 "http://$server_host:$lab_http_port/" >>"$1/gw-curl.txt" 2>&1
}

# fd_count PID: how many file descriptors PID has open now.
fd_count() {
    local fds=(/proc/"$1"/fd/*)
    printf '%s' "${#fds[@]}"
}

# events_count FILE PATTERN: the number of lines of the events FILE that match PATTERN.
events_count() {
    grep -c -- "$2" "$1" 2>/dev/null || true
}

# own_capture_begin OWNDIR: capture the wires the gateway's own connection crosses: lo (where
# the mark in mangle OUTPUT, or nat OUTPUT's REDIRECT, sends it to the proxy), then the proxy's
# upstream on veth-s and the server's eth0. The client's wires are left out: it is not involved.
own_capture_begin() {
    client_points=("${lab_points[@]}")
    lab_points=()
    add_point gateway:lo "$ns_gw" lo gateway gateway
    add_point gateway:veth-s "$ns_gw" veth-s gateway server
    add_point server:eth0 "$ns_server" eth0 gateway server
    start_capture "$1"
}

# own_capture_end RUNDIR OWNDIR MODE: stop that capture and make OWNDIR a run directory of its
# own for tplab report (its events and the gateway's state so far), shown before the client's.
own_capture_end() {
    local rundir=$1 own=$2 mode=$3
    stop_capture
    show_capture_table "$own"
    cp "$rundir/events.jsonl" "$own/events.jsonl"
    record_gateway_state "$ns_gw" "$own"
    write_meta "$own" 08-local-traffic "$mode" "${mode^^} --local: the gateway's own request, $fam_name" \
        "$fam" gateway,server
    own_dirs+=("$own")
    lab_points=("${client_points[@]}")
}

one_run() {
    local mode=$1 family=$2 rundir="local-$1-$2" rules_args tplab_pid i ok before after
    local table=${table_of[$mode]} first loops
    rules_args=(--mode "$mode" --port "${port_of[$mode]}" --dport "$lab_ports" --local --mark "$proxy_mark" "--$family")
    section "the gateway's own traffic through ${mode^^}, $family: $rundir/"
    begin_run "$rundir" "$family"
    log "the rule set (tplab rules prints it; --apply applies it):"
    show_rules "$ns_gw" "${rules_args[@]}"
    apply_rules "$ns_gw" "${rules_args[@]}"
    if [[ "$mode" == tproxy ]]; then
        start_proxy "$ns_gw" "$rundir" tproxy "0.0.0.0:$tproxy_port" "[::]:$tproxy_port" -- --mark "$proxy_mark"
    else
        start_proxy "$ns_gw" "$rundir" redirect "[::]:$redirect_port" -- --mark "$proxy_mark"
    fi
    tplab_pid=$(pgrep -P "$proxy_pid" -x tplab | head -n1)
    log "(tplab proxy runs as pid $tplab_pid, under timeout $proxy_pid)"

    log "the client's traffic (captured, for the report):"
    run_traffic "$rundir"
    log "the gateway's own request (captured on the gateway's lo, veth-s and the server's eth0):"
    own_capture_begin "$rundir-own"
    : >"$rundir/gw-curl.txt"
    gw_curl "$rundir" || true
    lab_indent "$rundir/gw-curl.txt"
    wait_events_closed "$rundir/events.jsonl" 3 || true
    own_capture_end "$rundir" "$rundir-own" "$mode"
    log "its events (the third connection is the gateway's own):"
    grep -E '"id":3,' "$rundir/events.jsonl" | lab_indent || true
    cp "$rundir/events.jsonl" "$rundir/events-before-loop.jsonl"
    cp "$rundir/server.http.log" "$rundir/server-before-loop.log"

    section "$rundir: the exemption removed: the proxy's own connections loop back to it"
    run "$ns_gw" "$ipt" -t "$table" -D OUTPUT -p tcp -m mark --mark "$(printf '0x%x' "$proxy_mark")" -j RETURN
    run "$ns_gw" "$ipt" -t "$table" -S OUTPUT | lab_indent
    before=$(fd_count "$tplab_pid")
    : >"$rundir/loop-curl.txt"
    ok=0
    show_cmd "$ns_gw" "" curl --noproxy '*' -sS --max-time 3 "http://$server_host:$lab_http_port/"
    log "    ... $loop_requests times"
    for ((i = 0; i < loop_requests; i++)); do
        if lab_in "$ns_gw" curl --noproxy '*' -sS --max-time 3 "http://$server_host:$lab_http_port/" \
            >>"$rundir/loop-curl.txt" 2>&1; then
            ok=$((ok + 1))
        fi
    done
    sort "$rundir/loop-curl.txt" | uniq -c | lab_indent
    after=$(fd_count "$tplab_pid")
    log "tplab proxy's open fds (/proc/$tplab_pid/fd): $before before the $loop_requests requests, $after after"
    log "one loop, as the events tell it:"
    first=$(grep -m1 -n '"reason":"loop_refused"' "$rundir/events.jsonl" | cut -d: -f1 || true)
    if [[ -n "$first" ]]; then
        sed -n "$((first > 3 ? first - 3 : 1)),$((first + 1))p" "$rundir/events.jsonl" | lab_indent
    fi

    section "$rundir: tplab rules --apply again puts the exemption back, in its place"
    apply_rules "$ns_gw" "${rules_args[@]}"
    run "$ns_gw" "$ipt" -t "$table" -S OUTPUT | tee "$rundir/output-chain.txt" | lab_indent
    : >"$rundir/gw-curl-after.txt"
    run "$ns_gw" curl --noproxy '*' -sS --max-time 3 "http://$server_host:$lab_http_port/" \
        >"$rundir/gw-curl-after.txt" 2>&1 || true
    lab_indent "$rundir/gw-curl-after.txt"
    run_fact[$rundir,pid_alive]=$(kill -0 "$tplab_pid" 2>/dev/null && echo yes || echo no)
    run_fact[$rundir,ok]=$ok run_fact[$rundir,fd_before]=$before run_fact[$rundir,fd_after]=$after
    run_fact[$rundir,mode]=$mode
    end_run "$rundir" 08-local-traffic "$mode" "${mode^^} with --local (gateway's own traffic)"
}

for family in "${lab_families[@]}"; do
    for mode in redirect tproxy; do
        one_run "$mode" "$family"
    done
done

run_report "tplab report: the gateway's own request, then the client's traffic, per --local run" \
    "${own_dirs[@]}" "${run_dirs[@]}"

# event_lines FILE: the events of FILE's connection 3 (the gateway's own request), as
# "client local original_dst recovered_by" of its accepted event and the reason it closed.
gw_event() {
    "$lab_py" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
acc = [e for e in ev if e.get("event") == "accepted" and e.get("id") == 3]
cls = [e for e in ev if e.get("event") == "closed" and e.get("id") == 3]
if acc:
    a = acc[0]
    print(a["client"].rsplit(":", 1)[0].strip("[]").replace("::ffff:", ""), a["original_dst"],
          a["recovered_by"], cls[0]["reason"] if cls else "open")' "$1"
}

section "checks (from the proxy's events, the server's log, /proc and iptables)"
for rd in "${run_dirs[@]}"; do
    mode=${run_fact[$rd,mode]}
    srv=$(endpoint "${run_fact[$rd,server]}" "$lab_http_port")
    check_path "$rd" "the gateway (the proxy's own connection)"
    check_eq "$rd: the gateway's own curl got the server's answer" "$(head -n1 "$rd/gw-curl.txt")" "served by server"
    got=$(gw_event "$rd/events-before-loop.jsonl")
    by=SO_ORIGINAL_DST
    [[ "$rd" == *-ipv6 ]] && by=IP6T_SO_ORIGINAL_DST
    [[ "$mode" == tproxy ]] && by=getsockname
    # The gateway's own connection: its source is the address the gateway picks toward the server.
    check_eq "$rd: the proxy intercepted the gateway's own connection (client, original destination, how, end)" \
        "$got" "${run_fact[$rd,gw_out]} $srv $by normal"
    n=$(server_log_peers "$rd/server-before-loop.log" | paste -sd' ')
    check_eq "$rd: the server saw only the gateway's address (client's and gateway's requests alike)" "$n" "${run_fact[$rd,gw_out]}"
    loops=$(events_count "$rd/events.jsonl" '"reason":"loop_refused"')
    check_eq "$rd: without the exemption, every one of the $loop_requests requests was refused as a loop" \
        "$loops" "$loop_requests"
    n=$(grep '"reason":"loop_refused"' "$rd/events.jsonl" | grep -c 'intercepted again' || true)
    check_eq "$rd: ... each saying the proxy's own upstream connection was intercepted again" "$n" "$loops"
    check_eq "$rd: ... and none of those requests got an answer" "${run_fact[$rd,ok]}" 0
    check_eq "$rd: the proxy survived the loops (pid alive after them)" "${run_fact[$rd,pid_alive]}" yes
    check "$rd: its open fds stayed bounded (${run_fact[$rd,fd_before]} before, ${run_fact[$rd,fd_after]} after)" \
        test "${run_fact[$rd,fd_after]}" -le $((${run_fact[$rd,fd_before]} + 2))
    first=$(grep -m1 -- '-A OUTPUT' "$rd/output-chain.txt" || true)
    check_contains "$rd: after --apply the exemption is the first OUTPUT rule again" "$first" "--mark $(printf '0x%x' "$proxy_mark") -j RETURN"
    check_eq "$rd: and the gateway's own request works again" "$(head -n1 "$rd/gw-curl-after.txt")" "served by server"
done

log ""
log "finished in ${SECONDS}s"
lab_exit
