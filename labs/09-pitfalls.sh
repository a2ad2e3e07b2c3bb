#!/bin/bash
# 09-pitfalls: the classic silent failures of transparent proxying, reproduced one at a time,
# measured on the wire, and named by tplab doctor.
#
#  +-----------------+      +-----------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                        |      | tpl-server       |
#  |  curl :80       |      |  tplab rules ... --apply, then one thing      |      |  HTTP :80        |
#  |                 |      |  broken on purpose:                           |      |  "served by      |
#  |                 |      |   (a) no ip rule / no local route (TPROXY)    |      |   server"        |
#  |                 |      |   (b) no OUTPUT exemption (REDIRECT --local)  |      |                  |
#  |                 |      |   (c) src_valid_mark=1, rp_filter=1 (spoof)   |      |                  |
#  |                 |      |  tplab proxy; tplab doctor --json             |      |                  |
#  |       eth0 [1]  |------| [2] veth-c                         veth-s [3] |------| [4] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1                        198.51.100.1 |      | 198.51.100.2     |
#  | 2001:db8:1::2   |      | 2001:db8:1::1                   2001:db8:2::1 |      | 2001:db8:2::2    |
#  +-----------------+      +-----------------------------------------------+      +------------------+
#   [1]..[4]: capture points (tplab capture), in path order
#
# (a) A TPROXY rule without its policy routing: TPROXY ties the SYN to the proxy's socket and
# marks it, but without `ip rule fwmark 0x1/0x1 lookup 100` (or without table 100's local
# route) routing says "forward", and the forward path drops a packet that carries a socket. The
# TPROXY counter rises, nothing is logged, the SYN never leaves the gateway, the proxy sees
# nothing; the client retransmits SYNs. The doctor names tproxy.local_route.<family>, then
# tproxy.ip_rule.<family>. (b) REDIRECT of the gateway's own traffic without the exemption for
# the proxy's --mark: its upstream connection is redirected back into itself. tplab's loop guard
# refuses it (loop_refused, "intercepted again"); the doctor cannot see a missing exemption (a
# rule that is absent is only wrong relative to what the proxy does), so the events are the
# evidence. (c) src_valid_mark=1 with --spoof-source: a marked packet's source is checked
# against the marked route (table 100: everything is local), so it is dropped as a martian
# (in_martian_src counts it). In REDIRECT mode that hits the server's replies, marked by the
# return-path rule: the SYN-ACKs arrive and vanish, the proxy's connect times out. In TPROXY mode
# it hits even earlier, the client's SYN marked by TPROXY itself. The doctor FAILs
# src_valid_mark.<iface>. Strict rp_filter is shown
# too: harmless on this symmetric gateway, yet the doctor warns rp_filter.<iface> because it
# breaks as soon as paths are asymmetric. (c) is IPv4 only: IPv6 has neither sysctl.
#
# Usage: sudo labs/09-pitfalls.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       keep the run directories (pcaps, events, doctor JSON) and the report of
#                   what each wire saw of (a) and (c) (report.txt, .json, .html) in DIR
#                   (default: a temp dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 25 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP.
# Docs: docs/pitfalls.md, docs/labs/09-pitfalls.md, docs/doctor.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
setup_lab ip ss iptables ip6tables curl socat timeout python3 tcpdump

# A fresh topology with the server, and the capture points.
fresh_lab() {
    local rundir=$1 family=$2
    fresh_rundir "$rundir"
    use_family "$family"
    build_topology
    start_name_server "$ns_server" server "$lab_http_port" "$rundir/server.http.log"
    standard_points
}

# pitfall_record RUNDIR MODE TITLE: after a capture, the gateway's state and meta.json, so that
# tplab report can show what each wire saw of the broken gateway (the report at the end).
pitfall_record() {
    record_gateway_state "$ns_gw" "$1"
    write_meta "$1" 09-pitfalls "$2" "$3, $fam_name" "$fam" client,gateway,server
    pitfall_dirs+=("$1")
}
pitfall_dirs=()

# client_curl RUNDIR: one request from the client (2 s at most) to RUNDIR/client.txt, shown;
# returns curl's status.
client_curl() {
    local rc=0
    run "$ns_client" curl --noproxy '*' -sS --max-time 2 "http://$server_host:$lab_http_port/" \
        >"$1/client.txt" 2>&1 || rc=$?
    lab_indent "$1/client.txt"
    return "$rc"
}

# syn_count PCAP: the SYNs (not SYN-ACKs) in PCAP.
syn_count() {
    tcpdump -nn -r "$1" 2>/dev/null | grep -c 'Flags \[S\],' || true
}

# synack_count PCAP: the SYN-ACKs in PCAP.
synack_count() {
    tcpdump -nn -r "$1" 2>/dev/null | grep -c 'Flags \[S\.\],' || true
}

# martian_src: the kernel's in_martian_src counter, summed over CPUs (/proc/net/stat/rt_cache).
martian_src() {
    "$lab_py" -c '
lines = open("/proc/net/stat/rt_cache").read().split("\n")
col = lines[0].split().index("in_martian_src")
print(sum(int(l.split()[col], 16) for l in lines[1:] if l.strip()))'
}

# counter RUNDIR REGEX: the packet counter of the first iptables-save -c line matching REGEX.
counter_of() {
    local line
    line=$(lab_in "$ns_gw" "$ipt-save" -c | grep -m1 -E -- "$1" || true)
    line=${line#[}
    printf '%s' "${line%%:*}"
}

# doctor_check RUNDIR NAME ID WANT ARG...: tplab doctor ARG... (--json to RUNDIR/doctor-NAME.json
# and as text), then PASS if finding ID has severity WANT.
doctor_check() {
    local rundir=$1 name=$2 id=$3 want=$4 rc=0 got
    shift 4
    doctor_text "$ns_gw" "$@"
    doctor_json "$ns_gw" "$rundir/doctor-$name.json" "$@" || rc=$?
    got=$(doctor_severity "$rundir/doctor-$name.json" "$id")
    check_eq "$rundir: tplab doctor names $id (exit status $rc)" "$got" "$want"
}

pitfall_a() {
    local family=$1 rundir="pitfall-a-$1" before after gw_c gw_s srv n
    section "(a) TPROXY without its ip rule / local route, $family: $rundir/"
    fresh_lab "$rundir" "$family"
    apply_rules "$ns_gw" --mode tproxy --port "$tproxy_port" --dport "$lab_http_port" --in-interface veth-c "--$family"
    start_proxy "$ns_gw" "$rundir" tproxy "0.0.0.0:$tproxy_port" "[::]:$tproxy_port"
    log "break it: first the local route of table $tproxy_table"
    run "$ns_gw" ip "$ip_f" route del local "$any_net" dev lo table "$tproxy_table"
    doctor_check "$rundir" no-route "tproxy.local_route.$family" fail --mode tproxy --port "$tproxy_port"
    log "then the ip rule too"
    run "$ns_gw" ip "$ip_f" rule del fwmark "$tproxy_mark/$tproxy_mark" lookup "$tproxy_table"
    doctor_check "$rundir" no-rule "tproxy.ip_rule.$family" fail --mode tproxy --port "$tproxy_port"
    before=$(counter_of ' -j TPROXY ')
    start_capture "$rundir"
    client_curl "$rundir" && rc_a=0 || rc_a=$?
    stop_capture
    show_capture_table "$rundir"
    pitfall_record "$rundir" tproxy "(a) TPROXY without its ip rule and local route"
    after=$(counter_of ' -j TPROXY ')
    log "the TPROXY rule's counter: $before before, $after after"
    gw_c=$(syn_count "$rundir/$ns_gw-veth-c.pcap")
    gw_s=$(syn_count "$rundir/$ns_gw-veth-s.pcap")
    srv=$(syn_count "$rundir/$ns_server-eth0.pcap")
    n=$(grep -c '"event":"accepted"' "$rundir/events.jsonl" || true)
    check "$rundir: the client's request failed (curl exit status $rc_a)" test "$rc_a" -ne 0
    check "$rundir: its SYNs reached the gateway ($gw_c at gateway:veth-c: the client retransmitted)" test "$gw_c" -ge 2
    check "$rundir: the TPROXY rule counted them ($before -> $after packets)" test "$after" -gt "$before"
    check_eq "$rundir: but they were dropped, not forwarded: SYNs at gateway:veth-s" "$gw_s" 0
    check_eq "$rundir: ... and at server:eth0" "$srv" 0
    check_eq "$rundir: the proxy accepted nothing (accepted events)" "${n:-0}" 0
    log "the fix: tplab rules --apply puts back what is missing"
    apply_rules "$ns_gw" --mode tproxy --port "$tproxy_port" --dport "$lab_http_port" --in-interface veth-c "--$family"
    doctor_check "$rundir" fixed "tproxy.ip_rule.$family" ok --mode tproxy --port "$tproxy_port"
    check_eq "$rundir: after the fix the doctor's local_route check is ok too" \
        "$(doctor_severity "$rundir/doctor-fixed.json" "tproxy.local_route.$family")" ok
    client_curl "$rundir" || true
    check_eq "$rundir: and the request works through the proxy" "$(head -n1 "$rundir/client.txt")" "served by server"
    stop_proxy "$rundir"
    teardown_ns "${lab_ns_list[@]}"
}

pitfall_b() {
    local family=$1 rundir="pitfall-b-$1" i n again
    section "(b) REDIRECT of the gateway's own traffic without the exemption, $family: $rundir/"
    fresh_lab "$rundir" "$family"
    apply_rules "$ns_gw" --mode redirect --port "$redirect_port" --dport "$lab_http_port" --local --mark 2 "--$family"
    start_proxy "$ns_gw" "$rundir" redirect "[::]:$redirect_port" -- --mark 2
    log "break it: delete the RETURN for the proxy's mark"
    run "$ns_gw" "$ipt" -t nat -D OUTPUT -p tcp -m mark --mark 0x2 -j RETURN
    : >"$rundir/gw-curl.txt"
    show_cmd "$ns_gw" "" curl --noproxy '*' -sS --max-time 2 "http://$server_host:$lab_http_port/"
    log "    ... 5 times"
    for ((i = 0; i < 5; i++)); do
        lab_in "$ns_gw" curl --noproxy '*' -sS --max-time 2 "http://$server_host:$lab_http_port/" \
            >>"$rundir/gw-curl.txt" 2>&1 || true
    done
    sort "$rundir/gw-curl.txt" | uniq -c | lab_indent
    log "the proxy's loop_refused events:"
    grep '"reason":"loop_refused"' "$rundir/events.jsonl" | head -n2 | lab_indent || true
    log "what the doctor says (it checks the proxy and the kernel, not which rules ought to exist):"
    doctor_text "$ns_gw" --mode redirect --port "$redirect_port"
    doctor_json "$ns_gw" "$rundir/doctor.json" --mode redirect --port "$redirect_port" || true
    n=$(grep -c '"reason":"loop_refused"' "$rundir/events.jsonl" || true)
    again=$(grep '"reason":"loop_refused"' "$rundir/events.jsonl" | grep -c 'intercepted again' || true)
    check_eq "$rundir: every request looped once and was refused (loop_refused events)" "$n" 5
    check_eq "$rundir: ... as the proxy's own upstream connection intercepted again" "$again" "$n"
    check_eq "$rundir: the doctor finds the listener fine: a missing exemption is invisible to it" \
        "$(doctor_severity "$rundir/doctor.json" listener.tcp)" ok
    apply_rules "$ns_gw" --mode redirect --port "$redirect_port" --dport "$lab_http_port" --local --mark 2 "--$family"
    run "$ns_gw" curl --noproxy '*' -sS --max-time 2 "http://$server_host:$lab_http_port/" \
        >"$rundir/gw-curl-fixed.txt" 2>&1 || true
    lab_indent "$rundir/gw-curl-fixed.txt"
    check_eq "$rundir: with the exemption back, the gateway's request works" \
        "$(head -n1 "$rundir/gw-curl-fixed.txt")" "served by server"
    stop_proxy "$rundir"
    teardown_ns "${lab_ns_list[@]}"
}

# pitfall_c MODE: src_valid_mark=1 with --spoof-source, intercepting with MODE (tproxy: the
# client's own SYN carries TPROXY's mark and already fails the check; redirect: only the server's
# replies are marked, by the return-path rule). Then, in redirect mode, strict rp_filter.
pitfall_c() {
    local mode=$1 rundir="pitfall-c-$1-ipv4" before after rc=0 n iface port listen=()
    section "(c) spoofing with src_valid_mark=1, ${mode^^}, ipv4: $rundir/"
    fresh_lab "$rundir" ipv4
    if [[ "$mode" == tproxy ]]; then
        port=$tproxy_port iface=veth-c listen=("0.0.0.0:$tproxy_port" "[::]:$tproxy_port")
    else
        port=$redirect_port iface=veth-s listen=("[::]:$redirect_port")
    fi
    apply_rules "$ns_gw" --mode "$mode" --port "$port" --dport "$lab_http_port" --in-interface veth-c \
        --spoof-source --ipv4
    start_proxy "$ns_gw" "$rundir" "$mode" "${listen[@]}" -- --spoof-source --connect-timeout 1.5
    client_curl "$rundir" || true
    check_eq "$rundir: spoofing works to begin with" "$(head -n1 "$rundir/client.txt")" "served by server"
    log "break it: src_valid_mark=1"
    run "$ns_gw" sysctl -w net.ipv4.conf.all.src_valid_mark=1 | lab_indent
    before=$(martian_src)
    start_capture "$rundir"
    client_curl "$rundir" || rc=$?
    stop_capture
    show_capture_table "$rundir"
    pitfall_record "$rundir" "$mode" "(c) --spoof-source with src_valid_mark=1, ${mode^^}"
    after=$(martian_src)
    log "in_martian_src (/proc/net/stat/rt_cache, all CPUs): $before before, $after after"
    check "$rundir: the client's request failed (curl exit status $rc)" test "$rc" -ne 0
    if [[ "$mode" == tproxy ]]; then
        n=$(syn_count "$rundir/$ns_gw-veth-c.pcap")
        check "$rundir: the client's SYNs reached gateway:veth-c ($n)" test "$n" -ge 1
        n=$(syn_count "$rundir/$ns_gw-veth-s.pcap")
        check_eq "$rundir: no SYN left toward the server: TPROXY's own mark failed the source check" "$n" 0
        n=$(grep -c '"event":"accepted"' "$rundir/events.jsonl" || true)
        check_eq "$rundir: the proxy accepted only the first (working) request" "$n" 1
    else
        n=$(synack_count "$rundir/$ns_gw-veth-s.pcap")
        check "$rundir: the server answered the spoofed SYN: SYN-ACKs arrived at gateway:veth-s ($n)" \
            test "$n" -ge 1
        n=$(grep -c '"reason":"connect_timeout"' "$rundir/events.jsonl" || true)
        check_eq "$rundir: the proxy's upstream connect timed out: the replies never reached its socket" "$n" 1
    fi
    if ((after > before)); then
        pass "$rundir: the kernel counted the drops as martian sources (in_martian_src +$((after - before)))"
    else
        log "(in_martian_src did not move here)"
    fi
    doctor_check "$rundir" src-valid-mark "src_valid_mark.$iface" fail --mode "$mode" --port "$port" --spoof-source
    if [[ "$mode" == redirect ]]; then
        log "strict rp_filter instead (src_valid_mark back to 0)"
        run "$ns_gw" sysctl -w net.ipv4.conf.all.src_valid_mark=0 net.ipv4.conf.all.rp_filter=1 | lab_indent
        client_curl "$rundir" || true
        check_eq "$rundir: strict rp_filter is harmless on this symmetric gateway: the request works" \
            "$(head -n1 "$rundir/client.txt")" "served by server"
        doctor_check "$rundir" rp-filter rp_filter.veth-s warn --mode "$mode" --port "$port" --spoof-source
    fi
    n=$(server_log_peers "$rundir/server.http.log" | paste -sd' ')
    check_eq "$rundir: the server saw only the client's address in the requests that got through" \
        "$n" "$(iface_addr "$ns_client" eth0 ipv4)"
    stop_proxy "$rundir"
    teardown_ns "${lab_ns_list[@]}"
}

for family in "${lab_families[@]}"; do
    pitfall_a "$family"
    pitfall_b "$family"
done
if [[ " ${lab_families[*]} " == *" ipv4 "* ]]; then
    pitfall_c tproxy
    pitfall_c redirect
fi

if ((${#pitfall_dirs[@]})) && report_available; then
    run_report "tplab report: what each wire saw of the broken gateways" "${pitfall_dirs[@]}"
fi

log ""
log "finished in ${SECONDS}s"
lab_exit
