#!/bin/bash
# compare: the same traffic through an explicit SOCKS5 proxy, through REDIRECT, TPROXY, AnyIP and
# sk-lookup, captured on every wire, and tplab report's side-by-side view of what each hop and
# the gateway's kernel saw (and which kernel object steered the connection to the proxy).
#
#  +-----------------+      +------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                   |      | tpl-server       |
#  |                 |      |  tplab proxy                             |      |  HTTP :80        |
#  |                 |      |   explicit run: socks5 192.0.2.1:1080    |      |                  |
#  |  curl :80       |      |   REDIRECT run: redirect [::]:15001      |      |  socat :8080     |
#  |  socat :8080    |      |   TPROXY run:   tproxy 0.0.0.0:15002     |      |  (answers after  |
#  |                 |      |                 and [::]:15002           |      |   1 s)           |
#  |                 |      |   spoof run:    tproxy --spoof-source    |      |                  |
#  |                 |      |   AnyIP run:    tproxy on :80 and :8080  |      |                  |
#  |                 |      |   sk-lookup:    sk-lookup [::]:15003     |      |                  |
#  |       eth0 [1]  |------| [2] veth-c                    veth-s [3] |------| [4] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1                   198.51.100.1 |      | 198.51.100.2     |
#  | 2001:db8:1::2   |      | 2001:db8:1::1              2001:db8:2::1 |      | 2001:db8:2::2    |
#  +-----------------+      +------------------------------------------+      +------------------+
#   [1]..[4]: capture points (tplab capture), in path order: client:eth0, gateway:veth-c,
#   gateway:veth-s, server:eth0
#
# Each run builds fresh namespaces, applies one mode's rules (nat REDIRECT, or mangle TPROXY
# with its fwmark, ip rule and local route), starts tplab proxy in that mode and the captures,
# then sends the same traffic: one HTTP request (curl) and one socat connection that the server
# holds open for a second, long enough to snapshot the proxy's sockets (ss -tanpe). After the
# traffic it records the gateway's conntrack table and its rules with their counters. There is
# one run directory per mode and family (explicit-ipv4, redirect-ipv4, tproxy-ipv4,
# tproxy-spoof-ipv4, anyip-ipv4, sk-lookup-ipv4, and -ipv6);
# `tplab report` reads them all and prints them side by side. The PASS/FAIL lines come from
# that report's JSON (parsed captures and kernel snapshots) and from addresses read back from
# the namespaces' kernels: on the wires both modes look the same; inside the gateway REDIRECT
# rewrote the destination (the accepted socket is the gateway's, conntrack holds a NAT entry and
# SO_ORIGINAL_DST answers), while TPROXY left it alone (the accepted socket is the server's
# address, no NAT, getsockname answers). Both families run by default: IPv6 works the same way
# through both modes on this kernel (IP6T_SO_ORIGINAL_DST, ip -6 rule + local ::/0 route).
#
# Usage: sudo labs/compare.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       where the run directories (pcaps, snapshots, events) and report.txt,
#                   report.json, report.html go (default: ./lab-output/<timestamp>/)
# A third run per family, tproxy-spoof-FAMILY, adds full transparency: the rules of tplab rules
# --spoof-source (the return path: -m socket --transparent -j MARK) and tplab proxy
# --spoof-source, so server:eth0 shows the client's address where the other runs show the
# gateway's (docs/full-transparency.md).
# The first run per family, explicit-FAMILY, is the contrast the transparent modes are defined
# against: no rule at all; the client is configured with the proxy (curl --proxy socks5://, and
# curl telnet:// through it for the held connection), sends its SYN to the proxy's address and
# names the server in the SOCKS5 request, which tplab report decodes from client:eth0's capture.
#
# AnyIP-FAMILY and sk-lookup-FAMILY use no netfilter at all: tplab rules --mode anyip (or
# sk-lookup) adds an ip rule per port (iif veth-c ipproto tcp dport N lookup 100) and the local
# route of table 100. In AnyIP the proxy listens on the intercepted ports themselves; in sk-lookup
# one listener is enough, a BPF sk_lookup program steers the ports to it. Its link, program and
# counters are read with bpftool while the proxy runs (bpf.json); the report's "steered by" row
# names the rule, route or program that handed each connection over. On a kernel without BPF
# sk_lookup (before Linux 5.9) the sk-lookup column is left out, with a NOTE; the rest runs.
#
# Takes about 50 s (47 s measured with both families, twelve runs). Exit 0 if every check
# passes, 1 on a FAIL, 4 on SKIP (not root, a tool missing, or a tplab without the report
# command). Docs: docs/labs/compare.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
compare_done=0
if [[ -z "$LAB_OUTPUT" ]]; then
    stamp=$(date +%Y%m%d-%H%M%S)
    LAB_OUTPUT="$PWD/lab-output/$stamp"
    # An interrupted run leaves no half-filled directory behind in the default place.
    defer drop_partial_output
fi
# shellcheck disable=SC2317  # called by cleanup (defer)
drop_partial_output() {
    if ((compare_done == 0)) && [[ -n "$lab_work" ]]; then
        cd / && rm -rf -- "$lab_work"
        rmdir -- "${lab_work%/*}" 2>/dev/null || true
    fi
}
setup_lab ip ss iptables ip6tables curl socat timeout python3 conntrack bpftool stat

declare -A title=([explicit]="explicit SOCKS5 proxy" [redirect]="REDIRECT (nat table)"
    [tproxy]="TPROXY (mangle table)" [tproxy-spoof]="TPROXY + --spoof-source"
    [anyip]="AnyIP (ip rule + local route)" [sk-lookup]="sk-lookup (BPF program)")
readonly socks_port=1080 sk_lookup_port=15003

# The explicit column: no rule at all; the client is configured with the proxy (curl --proxy
# socks5://) and names the server in the SOCKS5 request.
intercept_explicit() {
    start_proxy "$ns_gw" "$1" socks5 "$(endpoint "$gw_client_ip" "$socks_port")"
    lab_client_proxy="socks5://$(url_host "$gw_client_ip"):$socks_port"
}

intercept_redirect() {
    apply_rules "$ns_gw" --mode redirect --port "$redirect_port" --dport "$lab_ports" \
        --in-interface veth-c "--$fam"
    start_proxy "$ns_gw" "$1" redirect "[::]:$redirect_port"
}

intercept_tproxy() {
    apply_rules "$ns_gw" --mode tproxy --port "$tproxy_port" --dport "$lab_ports" \
        --in-interface veth-c "--$fam"
    start_proxy "$ns_gw" "$1" tproxy "0.0.0.0:$tproxy_port" "[::]:$tproxy_port"
}

# The full-transparency column: TPROXY again, with the rules from tplab rules --spoof-source
# (which add the return path) and tplab proxy --spoof-source, so the server sees the client.
intercept_tproxy_spoof() {
    apply_rules "$ns_gw" --mode tproxy --port "$tproxy_port" --dport "$lab_ports" --in-interface veth-c \
        "--$fam" --spoof-source
    start_proxy "$ns_gw" "$1" tproxy "0.0.0.0:$tproxy_port" "[::]:$tproxy_port" -- --spoof-source
}

# The AnyIP column: no netfilter. An ip rule per port sends the client's connections to table 100,
# whose local route delivers them to this host unchanged; the proxy listens on the intercepted
# ports themselves (IP_TRANSPARENT, so that it may answer for another host's address).
intercept_anyip() {
    apply_rules "$ns_gw" --mode anyip --dport "$lab_ports" --in-interface veth-c "--$fam"
    start_proxy "$ns_gw" "$1" tproxy "0.0.0.0:$lab_http_port" "[::]:$lab_http_port" \
        "0.0.0.0:$lab_hold_port" "[::]:$lab_hold_port"
}

# The sk-lookup column: the same routing as AnyIP, and one listener; a BPF sk_lookup program,
# attached to the gateway's netns by a link that dies with tplab proxy, steers the ports to it.
intercept_sk_lookup() {
    apply_rules "$ns_gw" --mode sk-lookup --dport "$lab_ports" --in-interface veth-c "--$fam"
    start_proxy "$ns_gw" "$1" sk-lookup "[::]:$sk_lookup_port" -- --dport "$lab_ports"
}

# trace_start RUNDIR MODE: tplab trace in the gateway while the traffic runs: the kernel's view
# of the run's first connection (hooks, rules, verdicts, routing; docs/trace.md) in
# RUNDIR/trace.txt and trace.json. Port 80, and the SOCKS5 port for the explicit run.
trace_start() {
    local ports=(--port "$lab_http_port")
    [[ "$2" == explicit ]] && ports+=(--port "$socks_port")
    start_bg - "$1/trace.txt" tplab trace --netns "$ns_gw" "${ports[@]}" --timeout 60 \
        --json-file "$1/trace.json"
    trace_pid=$bg_pid
    busywait "$LAB_WAIT" lab_file_has "$1/trace.txt" "tplab trace: tracing" ||
        log "(tplab trace did not start: $1/trace.txt says why)"
}

# trace_stop: end the trace (SIGTERM: it prints the journey and switches everything off).
trace_stop() {
    [[ -n "${trace_pid:-}" ]] || return 0
    stop_bg "$trace_pid" TERM || log "(tplab trace failed: see its trace.txt)"
    trace_pid=""
}

# one_run MODE FAMILY: fresh namespaces, MODE's rules and proxy, captures, traffic, snapshots.
one_run() {
    local mode=$1 family=$2 rundir="$1-$2"
    section "${title[$mode]}, $family: $rundir/"
    begin_run "$rundir" "$family"
    case "$mode" in
    explicit) intercept_explicit "$rundir" ;;
    redirect) intercept_redirect "$rundir" ;;
    tproxy) intercept_tproxy "$rundir" ;;
    tproxy-spoof) intercept_tproxy_spoof "$rundir" ;;
    anyip) intercept_anyip "$rundir" ;;
    sk-lookup) intercept_sk_lookup "$rundir" ;;
    esac
    trace_start "$rundir" "$mode"
    run_traffic "$rundir"
    trace_stop
    # The link lives as long as the proxy: read it before end_run stops the proxy.
    [[ "$mode" == sk-lookup ]] && record_bpf_state "$ns_gw" "$rundir"
    lab_client_proxy=""
    end_run "$rundir" compare "${mode%-spoof}" "${title[$mode]}"
}

# The sk-lookup column needs a kernel with BPF sk_lookup (Linux 5.9+); without it the others run.
modes=(explicit redirect tproxy tproxy-spoof anyip)
if [[ "$(bpftool feature probe kernel 2>/dev/null)" == *'program_type sk_lookup is available'* ]]; then
    modes+=(sk-lookup)
else
    log "NOTE: no sk-lookup column: this kernel has no BPF sk_lookup (bpftool feature probe kernel)"
fi
for family in "${lab_families[@]}"; do
    for mode in "${modes[@]}"; do
        one_run "$mode" "$family"
    done
done

run_report "tplab report: explicit, REDIRECT, TPROXY (and --spoof-source), AnyIP, sk-lookup"

# check_explicit RUN: the client was configured with the proxy and told it the destination;
# no rule, no NAT, no kernel lookup.
check_explicit() {
    local rd=$1 srv proxy
    srv=$(endpoint "${run_fact[$rd,server]}" "$lab_http_port")
    proxy=$(endpoint "${run_fact[$rd,gw_in]}" "$socks_port")
    check_eq "$rd: both requests were answered by the server (curl and curl telnet://)" \
        "${run_fact[$rd,replies]}" 2
    check_report "$rd" "client:eth0 sees the proxy's address as destination, not the server's" \
        'hop(f, "client:eth0")["destination"]' "$proxy"
    check_report "$rd" "the report decodes the client's SOCKS5 request: CONNECT to the server" \
        'f["explicit"]["request"]' "SOCKS5 CONNECT $srv"
    check_report "$rd" "the proxy took the destination from those bytes" \
        'f["internals"]["recovered_by"]' "SOCKS5 request"
    check_report "$rd" "no NAT mapping and no rule: the kernel played no part" \
        '[f["internals"]["nat"]["present"], f["internals"]["rules"]]' '[false, []]'
    check_report "$rd" "the server saw the connection come from the gateway" \
        'f["internals"]["server_saw"].rsplit(":", 1)[0].strip("[]")' "${run_fact[$rd,gw_out]}"
}

# check_routed_interception RUN: AnyIP and sk-lookup hand the connection over like TPROXY (the
# accepted socket is the server's address, getsockname answers, no NAT), and with no netfilter at
# all: conntrack holds nothing for the flow, no rule counted; an ip rule for the flow's port and
# its table's local route steered it.
check_routed_interception() {
    local rd=$1
    check_tproxy_interception "$rd"
    check_report "$rd" "conntrack holds no entry at all for the flow: nothing tracked it" \
        'f["internals"]["nat"]["tracked"]' false
    check_report "$rd" "no firewall rule counted a packet" 'f["internals"]["rules"]' '[]'
    check_report "$rd" "steered by an ip rule for the flow's port, to table $tproxy_table" \
        "any(x.startswith('ip rule: iif veth-c ') and ' dport $lab_http_port lookup $tproxy_table' in x
             for x in f['internals']['steered_by'])" true
    check_report "$rd" "and by that table's local route" \
        "any(x.startswith('route: local default dev lo table $tproxy_table') for x in f['internals']['steered_by'])" true
}

# check_bpf_steering RUN: the BPF objects bpftool showed while the proxy ran (RUN/bpf.json): one
# link, of type netns, attached to the gateway's own namespace (its inode, read back when the
# state was recorded), running tplab's sk_lookup program, whose counter says it steered every
# connection the client made; and the report names that link and program as what steered.
check_bpf_steering() {
    local rd=$1 got
    got=$(bpf_json_get "$rd" '[(l["type"], l["netns_ino"] == b["netns_ino"]) for l in b["links"]]')
    check_eq "$rd: bpftool shows one link, of type netns, in the gateway's namespace" "$got" \
        '[["netns", true]]'
    got=$(bpf_json_get "$rd" '[(p["type"], p["name"]) for p in b["programs"]]')
    check_eq "$rd: its program is tplab's sk_lookup program" "$got" '[["sk_lookup", "tplab_steer"]]'
    got=$(bpf_json_get "$rd" 'b["counters"].get("steered")')
    check_eq "$rd: tplab_counters: the program steered both connections" "$got" \
        "${run_fact[$rd,replies]}"
    got=$(bpf_json_get "$rd" '"BPF link %d (sk_lookup, netns %d) -> prog %d tplab_steer: steered %d" % (
        b["links"][0]["id"], b["netns_ino"], b["links"][0]["prog_id"], b["counters"]["steered"])')
    check_report "$rd" "the report names that link and program as what steered the flow" \
        'f["internals"]["steered_by"][-1]' "$got"
}

# bpf_json_get RUN EXPR: EXPR (python, b = RUN/bpf.json) printed as JSON.
bpf_json_get() {
    "$lab_py" -c 'import json, sys
b = json.load(open(sys.argv[1] + "/bpf.json"))
try:
    print(json.dumps(eval(sys.argv[2])).strip("\""))
except (KeyError, IndexError, TypeError) as e:
    print(f"<{type(e).__name__}: {e}>")' "$1" "$2"
}

# hop_addresses RUN: the (source address, destination) pairs at every capture point.
hop_addresses() {
    report_get "$1" '[(x["source"].rsplit(":",1)[0], x["destination"]) for x in f["hops"]]'
}

section "checks (from report.json and the kernels' own addresses)"
for family in "${lab_families[@]}"; do
    check_explicit "explicit-$family"
    r=redirect-$family t=tproxy-$family
    check_path "$r" "the gateway, not the client"
    want=$(endpoint "${run_fact[$r,gw_in]}" "$redirect_port")
    check_nat_interception "$r" "$want" REDIRECT "the gateway's veth-c address and the proxy port"
    check_path "$t" "the gateway, not the client"
    check_tproxy_interception "$t"
    check_report "$t" "the mangle TPROXY rule's counter moved" \
        'any(" -t mangle " in x and " TPROXY " in x for x in f["internals"]["rules"])' true
    a=anyip-$family k=""
    check_path "$a" "the gateway, not the client"
    check_routed_interception "$a"
    if [[ " ${modes[*]} " == *" sk-lookup "* ]]; then
        k=sk-lookup-$family
        check_path "$k" "the gateway, not the client"
        check_routed_interception "$k"
        check_bpf_steering "$k"
    fi
    # On the wires the four modes are indistinguishable: same addresses at every point.
    want=$(hop_addresses "$r")
    differ=""
    for other in "$t" "$a" $k; do
        got=$(hop_addresses "$other")
        [[ "$got" == "$want" && "$got" != "<"* ]] || differ+=" $other: $got"
    done
    if [[ -z "$differ" && "$want" != "<"* ]]; then
        pass "$family: every capture point sees the same addresses through REDIRECT, TPROXY, AnyIP${k:+ and sk-lookup}: the wires cannot tell them apart"
    else
        fail "$family: the capture points saw different addresses: $r: $want;$differ"
    fi
    # Full transparency: what the server's own wire (server:eth0) shows as the source.
    s=tproxy-spoof-$family
    check_path "$s" "the client (--spoof-source)" "${run_fact[$s,client]}"
    got=$(report_get "$t" 'hop(f, "server:eth0")["source"].rsplit(":", 1)[0].strip("[]")')
    want=$(report_get "$s" 'hop(f, "server:eth0")["source"].rsplit(":", 1)[0].strip("[]")')
    check_eq "$family: server:eth0 shows the gateway without --spoof-source, the client with it" \
        "$got / $want" "${run_fact[$t,gw_out]} / ${run_fact[$s,client]}"
done

compare_done=1
log ""
reports=(report.*)
log "finished in ${SECONDS}s; everything is in $lab_work:"
log "  ${reports[*]}, and per run directory (${run_dirs[*]}):"
log "  meta.json, *.pcap, events.jsonl, conntrack.txt, sockets.txt, rules.txt, client.txt,"
log "  trace.txt and trace.json (tplab trace of the first connection), and logs"
log "  (and bpf.json in the sk-lookup runs)"
lab_exit
