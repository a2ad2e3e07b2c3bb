#!/bin/bash
# 11-sk-lookup: a BPF program picks the socket. AnyIP's policy rule and local route deliver the
# client's connections for ports 80 and 8080 to the gateway; tplab proxy's BPF sk_lookup program
# then hands them to its one listener on port 15001. What does the kernel hold, and what is left
# when the proxy is killed?
#
#  +-----------------+      +-------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                    |      | tpl-server       |
#  |  curl :80       |      |  ip rule iif veth-c ipproto tcp dport 80  |      |  HTTP :80        |
#  |  socat :8080    |      |          lookup 100 (and dport 8080)      |      |  socat :8080     |
#  |                 |      |  table 100: local 0.0.0.0/0 dev lo        |      |  "served by      |
#  |                 |      |  BPF sk_lookup tplab_steer (netns link):  |      |   server"        |
#  |                 |      |    dport 80, 8080 -> the proxy's socket   |      |                  |
#  |                 |      |  tplab proxy --mode sk-lookup [::]:15001  |      |                  |
#  |       eth0 [1]  |------| [2] veth-c                     veth-s [3] |------| [4] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1                    198.51.100.1 |      | 198.51.100.2     |
#  | 2001:db8:1::2   |      | 2001:db8:1::1               2001:db8:2::1 |      | 2001:db8:2::2    |
#  +-----------------+      +-------------------------------------------+      +------------------+
#   [1]..[4]: capture points (tplab capture), in path order
#
# sk_lookup (Linux 5.9+): for a packet delivered locally, after the lookup of established
# sockets and before the lookup of listeners, the kernel runs the BPF program attached to the
# network namespace; it may assign any socket from a SOCKMAP. tplab's program steers the
# --dport ports to the proxy's IP_TRANSPARENT listener, so one listener on port 15001 receives
# connections for 80 and 8080, and getsockname() of the accepted socket is still the server's
# address. `tplab rules --mode sk-lookup --apply` only makes the addresses local (as in lab 10),
# so that the socket lookup runs at all. No netfilter rule, no conntrack entry. The program is
# attached with a BPF link that is an fd of the proxy, not pinned: the second part kills the
# proxy with SIGKILL and shows that the link went with it and the client is refused (RST).
# IPv4 and IPv6 both run, as sk-lookup-ipv4 and sk-lookup-ipv6.
#
# Usage: sudo labs/11-sk-lookup.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       keep the run directories (pcaps, snapshots, events) and report.txt / report.json
#                   in DIR (default: a temp dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 20 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP (no bpftool, or a kernel
# without BPF sk_lookup). Docs: docs/labs/11-sk-lookup.md, docs/sk-lookup.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
setup_lab ip ss curl socat timeout python3 nstat conntrack bpftool iptables-save ip6tables-save
[[ "$(bpftool feature probe kernel 2>/dev/null)" == *'program_type sk_lookup is available'* ]] ||
    skip "this kernel has no BPF sk_lookup programs (needs Linux 5.9+ with CONFIG_BPF_SYSCALL)"

readonly sk_port=15001  # the proxy's one listener; no rule names it, the program finds it

# gw_netns_ino: the inode of the gateway's network namespace, as bpftool reports a link's netns.
gw_netns_ino() {
    ip netns exec "$ns_gw" stat -L -c %i /proc/self/ns/net
}

# netns_links INO: the BPF links attached to the network namespace INO, one JSON object a line.
netns_links() {
    bpftool -j link show | "$lab_py" -c '
import json, sys
for l in json.load(sys.stdin):
    if str(l.get("netns_ino")) == sys.argv[1]:
        print(json.dumps(l))' "$1"
}

# show_netns_links INO: `bpftool link show`, only the links of the network namespace INO.
show_netns_links() {
    local out
    show_cmd - "" bpftool link show
    out=$(bpftool link show | awk -v ino="$1" '
        /^[0-9]+: / { block = $0; next }
        { block = block "\n" $0 }
        $0 ~ "netns_ino " ino "( |$)" { print block }')
    if [[ -n "$out" ]]; then
        lab_indent <<<"$out"
    else
        log "    (no link with netns_ino $1)"
    fi
}

# proxy_process PID: the tplab process that the start_bg job PID (timeout) runs.
proxy_process() {
    pgrep -P "$1" -x tplab
}

# kill_proxy_hard PID: SIGKILL the tplab process PID and reap its start_bg job (proxy_pid),
# without the shell's "Killed" job notice (the job dies of the signal it forwards).
kill_proxy_hard() {
    local pid=$1
    show_cmd - "" kill -KILL "$pid"
    {
        kill -KILL "$pid"
        busywait "$LAB_WAIT" lab_pid_gone "$pid" || fail "tplab proxy ($pid) survived SIGKILL"
        stop_bg "$proxy_pid" || true
    } 2>/dev/null
    proxy_pid="" proxy_ns=""
}

# counters NS NAME...: the values of the nstat counters NAME... in NS, in that order.
counters() {
    local ns=$1 name
    shift
    local all
    all=$(ip netns exec "$ns" nstat -az "$@")
    for name in "$@"; do
        awk -v n="$name" '$1 == n { printf "%s ", $2 }' <<<"$all"
    done
    printf '\n'
}

# delta BEFORE AFTER: the differences of two counters lines, in order.
delta() {
    local -a b a
    local i out=()
    read -ra b <<<"$1"
    read -ra a <<<"$2"
    for i in "${!a[@]}"; do
        out+=($((a[i] - b[i])))
    done
    printf '%s\n' "${out[*]}"
}

declare -A link_found=() link_type=() prog_name=() steered=() firewall_lines=() ct_count=()

for family in "${lab_families[@]}"; do
    rundir=sk-lookup-$family
    section "sk_lookup, $family: $rundir/"
    begin_run "$rundir" "$family"
    log "(tplab rules makes the addresses local for the client's connections to the two ports)"
    apply_rules "$ns_gw" --mode sk-lookup --in-interface veth-c --dport "$lab_http_port" \
        --dport "$lab_hold_port" "--$family"
    log "(one dual-stack listener on $sk_port; the program steers dport $lab_ports to it)"
    start_proxy "$ns_gw" "$rundir" sk-lookup "[::]:$sk_port" -- --dport "$lab_ports"
    lab_indent "$rundir/proxy.log"
    ino=$(gw_netns_ino)
    log "the BPF links attached to the gateway's netns (netns_ino $ino from stat -L /proc/self/ns/net):"
    show_netns_links "$ino"
    netns_links "$ino" >"$rundir/links.jsonl"
    prog_id=$("$lab_py" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["prog_id"])' \
        "$rundir/links.jsonl" 2>/dev/null || true)
    link_found[$rundir]=$(grep -c . "$rundir/links.jsonl" || true)
    link_type[$rundir]=$("$lab_py" -c '
import json, sys
l = json.loads(open(sys.argv[1]).readline())
print(l.get("type"), l.get("attach_type"))' "$rundir/links.jsonl" 2>/dev/null || true)
    run - bpftool prog show id "${prog_id:-0}" | lab_indent || true
    prog_name[$rundir]=$(bpftool -j prog show id "${prog_id:-0}" 2>/dev/null |
        "$lab_py" -c 'import json,sys; print(json.load(sys.stdin)["name"])' || true)
    run_traffic "$rundir"
    # The link, its program and tplab_counters (summed over the CPUs) into bpf.json, which the
    # report's "steered by" row reads.
    record_bpf_state "$ns_gw" "$rundir"
    read -r n_steered n_nosock n_failed <<<"$("$lab_py" -c '
import json, sys
c = json.load(open(sys.argv[1]))["counters"]
print(*(c.get(k, "?") for k in ("steered", "no_socket", "assign_failed")))' "$rundir/bpf.json")"
    steered[$rundir]=$n_steered
    log "the program's counters: steered $n_steered, no socket $n_nosock, assign failed $n_failed"
    show_firewall "$ns_gw" "$rundir"
    firewall_lines[$rundir]=$(grep -cv '^[[:space:]]*$' "$rundir/firewall.txt" || true)
    ct_count[$rundir]=$(ip netns exec "$ns_gw" conntrack -C)
    log "the gateway's conntrack table: ${ct_count[$rundir]} entries"
    log "what makes the addresses local, the policy rules and table $tproxy_table:"
    grep -E "lookup $tproxy_table|^local" "$rundir/rules.txt" | lab_indent || true
    end_run "$rundir" 11-sk-lookup sk-lookup "sk_lookup (BPF program, AnyIP routing)"
done

section "nothing outlives the proxy: SIGKILL (IPv4)"
rundir=sk-lookup-kill-ipv4
fresh_rundir "$rundir"
use_family ipv4
build_topology
start_lab_servers "$ns_server" "$rundir"
apply_rules "$ns_gw" --mode sk-lookup --in-interface veth-c --dport "$lab_http_port" --ipv4
start_proxy "$ns_gw" "$rundir" sk-lookup "[::]:$sk_port" -- --dport "$lab_http_port"
ino=$(gw_netns_ino)
links_before=$(netns_links "$ino" | grep -c . || true)
log "BPF links in the gateway's netns (netns_ino $ino) while the proxy runs: $links_before"
run "$ns_client" curl -sS --max-time 3 "http://$server_ip/" | lab_indent || true
pid=$(proxy_process "$proxy_pid")
log "(SIGKILL: the proxy gets no chance to detach anything itself)"
kill_proxy_hard "$pid"
# The kernel releases the link with its last fd, as the process exits: nothing to wait for.
links_after=$(netns_links "$ino" | grep -c . || true)
log "BPF links in the gateway's netns after the kill: $links_after"
show_netns_links "$ino"
run "$ns_gw" ip rule | grep "lookup $tproxy_table" | lab_indent || true
log "(the rule and the local route are still there: the SYN is still delivered to the gateway)"
gw_before=$(counters "$ns_gw" TcpInSegs TcpOutRsts IpOutRequests)
client_before=$(counters "$ns_client" TcpInSegs)
killed_out=$(run "$ns_client" curl -sS --max-time 3 "http://$server_ip/" 2>&1 || true)
lab_indent <<<"$killed_out"
gw_after=$(counters "$ns_gw" TcpInSegs TcpOutRsts IpOutRequests)
client_after=$(counters "$ns_client" TcpInSegs)
read -r gw_in gw_rsts gw_out <<<"$(delta "$gw_before" "$gw_after")"
client_in=$(delta "$client_before" "$client_after")
log "the gateway: TcpInSegs +$gw_in, TcpOutRsts +$gw_rsts, IpOutRequests +$gw_out;" \
    "the client: TcpInSegs +$client_in (nstat -az)"
log "(no socket and no program: the kernel counts a reset, but cannot send it from 198.51.100.2)"
log "(the only state left is the routing; tplab rules --remove undoes it, then nothing is intercepted)"
run "$ns_gw" tplab rules --mode sk-lookup --in-interface veth-c --dport "$lab_http_port" --ipv4 \
    --remove | lab_indent
lab_applied_rules=()
removed_out=$(run "$ns_client" curl -sS --max-time 3 "http://$server_ip/" 2>&1 || true)
lab_indent <<<"$removed_out"
teardown_ns "${lab_ns_list[@]}"

run_report "tplab report"

section "checks (from report.json and the kernels)"
for rd in "${run_dirs[@]}"; do
    check_path "$rd" "the gateway (the proxy's own connection)"
    check_tproxy_interception "$rd"
    check_eq "$rd: one BPF link was attached to the gateway's netns" "${link_found[$rd]}" 1
    check_eq "$rd: it is a netns link for sk_lookup" "${link_type[$rd]}" "netns sk_lookup"
    check_eq "$rd: its program is tplab_steer" "${prog_name[$rd]}" tplab_steer
    check "$rd: the program counted steered connections (${steered[$rd]})" \
        test "${steered[$rd]}" -gt 0 2>/dev/null
    check_eq "$rd: the gateway's firewall was empty (iptables, ip6tables, nft)" "${firewall_lines[$rd]}" 0
    check_report "$rd" "the report found no rule that matched" 'len(f["internals"]["rules"])' 0
    got=$(grep -cE "iif veth-c ipproto tcp dport ($lab_http_port|$lab_hold_port) lookup $tproxy_table" \
        "$rd/rules.txt" || true)
    check_eq "$rd: the two ip rules were in place" "$got" 2
    check_eq "$rd: the gateway's conntrack table was empty (conntrack -C)" "${ct_count[$rd]}" 0
done
check_eq "a link was attached while the proxy ran" "$links_before" 1
check_eq "after SIGKILL no BPF link is left in the gateway's netns" "$links_after" 0
check_contains "after SIGKILL the client's connection gets no answer" "$killed_out" "timed out"
check "after SIGKILL the client's SYNs still reached the gateway (TcpInSegs +$gw_in)" test "$gw_in" -gt 0
check_eq "the gateway sent nothing back (IpOutRequests)" "$gw_out" 0
check_eq "no segment reached the client (its TcpInSegs)" "$client_in" 0
check_eq "after tplab rules --remove the connection goes to the server, unintercepted" \
    "$removed_out" "served by server"

log ""
log "finished in ${SECONDS}s"
lab_exit
