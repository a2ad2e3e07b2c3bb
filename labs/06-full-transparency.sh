#!/bin/bash
# 06-full-transparency: the same traffic through TPROXY and REDIRECT, each with and without
# tplab proxy --spoof-source. Without it the server sees the gateway; with it, the client.
#
#  +-----------------+      +----------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                       |      | tpl-server       |
#  |  curl :80       |      |  tplab rules --mode tproxy|redirect          |      |  HTTP :80        |
#  |  socat :8080    |      |    [--spoof-source]  (rules shown per run)   |      |  socat :8080     |
#  |                 |      |  return path (--spoof-source):               |      |  logs the peer   |
#  |                 |      |   mangle PREROUTING -m socket --transparent  |      |  it saw          |
#  |                 |      |     -j MARK 0x1 -> ip rule fwmark 0x1        |      |                  |
#  |                 |      |     lookup 100 -> local 0.0.0.0/0 dev lo     |      |                  |
#  |                 |      |  tplab proxy --mode M [--spoof-source]       |      |                  |
#  |       eth0 [1]  |------| [2] veth-c                       veth-s [3]  |------| [4] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1                      198.51.100.1  |      | 198.51.100.2     |
#  | 2001:db8:1::2   |      | 2001:db8:1::1                 2001:db8:2::1  |      | 2001:db8:2::2    |
#  +-----------------+      +----------------------------------------------+      +------------------+
#   [1]..[4]: capture points (tplab capture), in path order; [4] server:eth0 is what the server sees
#
# Intercepting makes the destination transparent; the source is a separate choice. By default
# tplab connects upstream from the gateway's own address (198.51.100.1), so the server logs the
# gateway. With --spoof-source each upstream socket gets IP_TRANSPARENT and is bound to the
# client's address before connect(): the SYN on [4] carries 192.0.2.2. The server answers
# 192.0.2.2, and its route to the client goes through the gateway, which must not forward those
# replies to the real client (it never sent that SYN: it would reset). The return path: the
# reply matches `-m socket --transparent` (a transparent socket here owns the flow), gets mark
# 0x1, the ip rule sends marked packets to table 100, whose `local` route delivers them to the
# proxy's socket. `tplab rules --spoof-source` adds exactly that (in redirect mode too: it is the
# upstream side) and sets rp_filter to 2 (loose). Strict rp_filter alone is harmless on this
# symmetric gateway; src_valid_mark=1 is not: the marked replies then fail the source check as
# martians (lab 09 shows it). Each run is one mode x spoofing x family: tproxy-, tproxy-spoof-,
# redirect-, redirect-spoof- plus ipv4/ipv6. Checks come from tplab report's JSON (the
# server:eth0 hop, the proxy's events), the server's own log, rule counters and the kernels.
#
# Usage: sudo labs/06-full-transparency.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       keep the run directories and report.txt / report.json / report.html in DIR
#                   (default: a temp dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 15 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP.
# Docs: docs/labs/06-full-transparency.md, docs/full-transparency.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
setup_lab ip ss iptables ip6tables curl socat timeout python3 conntrack

declare -A port_of=([tproxy]=$tproxy_port [redirect]=$redirect_port)
declare -A title_of=([tproxy]="TPROXY" [redirect]="REDIRECT")
shown_plan=""

# show_spoof_bind RUNDIR FAMILY: what the proxy's spoofed upstream socket does first, bind() to
# the client's address, without IP_TRANSPARENT (EADDRNOTAVAIL: the gateway does not hold that
# address) and with it (bound). The outputs stay in RUNDIR/bind-*.txt for the checks.
show_spoof_bind() {
    local rundir=$1 family=$2 how addr=$client_ip4
    [[ "$family" == ipv6 ]] && addr=$client_ip6
    log "why --spoof-source needs IP_TRANSPARENT: the upstream socket first binds the client's address"
    for how in plain transparent; do
        run "$ns_gw" python3 "$lab_dir/lib/bind_probe.py" "$addr" "$how" >"$rundir/bind-$how.txt" || true
        lab_indent "$rundir/bind-$how.txt"
    done
}

# one_run MODE SPOOF(0|1) FAMILY: fresh namespaces, tplab rules for MODE (with the return path
# when spoofing), tplab proxy, the traffic, and what the server logged.
one_run() {
    local mode=$1 spoof=$2 family=$3 rundir title rules_args proxy_args=()
    rundir=$mode-$family title=${title_of[$mode]}
    rules_args=(--mode "$mode" --port "${port_of[$mode]}" --dport "$lab_ports" --in-interface veth-c "--$family")
    if ((spoof)); then
        rundir=$mode-spoof-$family title+=" + --spoof-source"
        rules_args+=(--spoof-source)
        proxy_args=(-- --spoof-source)
    fi
    section "$title, $family: $rundir/"
    begin_run "$rundir" "$family"
    if ((spoof)) && [[ "$shown_plan" != *"$mode"* ]]; then
        log "the rule set, every line with its reason (tplab rules prints it; --apply applies it):"
        show_rules "$ns_gw" "${rules_args[@]}"
        shown_plan+=" $mode"
    fi
    apply_rules "$ns_gw" "${rules_args[@]}"
    if ((spoof)) && [[ "$mode" == tproxy ]]; then
        show_spoof_bind "$rundir" "$family"
    fi
    if [[ "$mode" == tproxy ]]; then
        start_proxy "$ns_gw" "$rundir" tproxy "0.0.0.0:$tproxy_port" "[::]:$tproxy_port" "${proxy_args[@]}"
    else
        start_proxy "$ns_gw" "$rundir" redirect "[::]:$redirect_port" "${proxy_args[@]}"
    fi
    run_traffic "$rundir"
    log "the server's own log (the peer is the address its accept() returned):"
    lab_indent "$rundir/server.http.log"
    if ((spoof)); then
        log "the return path's counter ([packets:bytes]; the replies the socket match marked for local delivery):"
        grep -E -- '-m socket --transparent -j MARK' "$rundir/rules.txt" | lab_indent || true
    fi
    if ((spoof)) && [[ "$family" == ipv4 ]]; then
        log "the gateway's reverse-path settings after tplab rules (effective = max(all, iface); IPv6 has none):"
        lab_in "$ns_gw" sysctl net.ipv4.conf.all.rp_filter net.ipv4.conf.veth-s.rp_filter \
            net.ipv4.conf.all.src_valid_mark | lab_indent
    fi
    end_run "$rundir" 06-full-transparency "$mode" "$title"
}

for family in "${lab_families[@]}"; do
    for mode in tproxy redirect; do
        one_run "$mode" 0 "$family"
        one_run "$mode" 1 "$family"
    done
done

run_report "tplab report: without and with --spoof-source"

# return_marked RUNDIR: packets the return-path rule (-m socket --transparent -j MARK) counted.
return_marked() {
    local line sum=0 n
    while IFS= read -r line; do
        n=${line#[}
        n=${n%%:*}
        sum=$((sum + n))
    done < <(grep -E -- '^\[[0-9]+:[0-9]+\] -A PREROUTING .*-m socket --transparent -j MARK' "$1/rules.txt" || true)
    printf '%s' "$sum"
}

section "checks (from report.json, the server's log, the events and the kernels)"
for rd in "${run_dirs[@]}"; do
    case "$rd" in
    tproxy-*) check_tproxy_interception "$rd" ;;
    redirect-*)
        want=$(endpoint "${run_fact[$rd,gw_in]}" "$redirect_port")
        check_nat_interception "$rd" "$want" REDIRECT "the gateway's veth-c address and the proxy port"
        ;;
    esac
    if [[ "$rd" == *-spoof-* ]]; then
        who="the client" saw=${run_fact[$rd,client]}
    else
        who="the gateway" saw=${run_fact[$rd,gw_out]}
    fi
    check_path "$rd" "$who" "$saw"
    check_report "$rd" "server:eth0 (the server's own wire) carries $who's address as source" \
        'hop(f, "server:eth0")["source"].rsplit(":", 1)[0].strip("[]")' "$saw"
    peers=$(server_log_peers "$rd/server.http.log")
    check_eq "$rd: the server's own log names $who as the peer" "$peers" "$saw"
    got=$(event_field "$rd/events.jsonl" connected upstream_local)
    check_eq "$rd: the proxy's upstream socket was bound to $who's address" "${got%:*}" "$(url_host "$saw")"
    if [[ "$rd" == tproxy-spoof-* ]]; then
        check "$rd: bind() to the client's address fails without IP_TRANSPARENT (EADDRNOTAVAIL)" \
            grep -q 'without IP_TRANSPARENT: .* failed: EADDRNOTAVAIL' "$rd/bind-plain.txt"
        check "$rd: the same bind() succeeds with IP_TRANSPARENT" \
            grep -q 'with IP_TRANSPARENT: .* succeeded' "$rd/bind-transparent.txt"
    fi
    marked=$(return_marked "$rd")
    if [[ "$rd" == *-spoof-* ]]; then
        check "$rd: the return-path rule marked the server's replies for local delivery ($marked packets)" \
            test "$marked" -gt 0
    elif [[ "$rd" == redirect-* ]]; then
        check_eq "$rd: no return-path rule is needed or present (marked packets)" "$marked" 0
    else
        # tproxy's own plan has the transparent-socket rule too: it marks the client's packets
        # of flows already intercepted (the kernel's DIVERT fast path), so it counts here.
        log "$rd: the transparent-socket rule marked $marked packet(s): the client's, of intercepted flows"
    fi
done

log ""
log "finished in ${SECONDS}s"
lab_exit
