#!/bin/bash
# 12-sidecar: a service-mesh sidecar, the way Istio intercepts a pod's traffic, with tplab proxy as
# the sidecar: outbound through nat OUTPUT's REDIRECT to 15001, inbound to 15006 either through
# REDIRECT (Istio's default) or through TPROXY (interceptionMode: TPROXY), side by side.
#
#  +-------------------------------------------------------------+      +--------------------+
#  | sc-pod (the pod: one network namespace, two "containers")   |      | sc-peer (another   |
#  |  app (uid 0):  curl http://peer/ (calls out)                |      |  service)          |
#  |                HTTP :80, socat :8080 (called in)            |      |  curl http://pod/  |
#  |  sidecar (uid 1337): tplab proxy --user istio-proxy         |      |  HTTP :80          |
#  |    :15001 outbound (redirect), :15006 inbound (redirect or  |      |  socat :8080       |
#  |    tproxy --spoof-source --mark 1337)                       |      |  logs the peer     |
#  |  nat OUTPUT -> ISTIO_OUTPUT: uid 1337 -> RETURN, else       |      |  address it saw    |
#  |    ISTIO_REDIRECT (REDIRECT :15001), in both modes          |      |                    |
#  |  REDIRECT: nat PREROUTING -> ISTIO_INBOUND -> :15006        |      |                    |
#  |  TPROXY: mangle PREROUTING -> ISTIO_INBOUND -> ISTIO_TPROXY |      |                    |
#  |    :15006 mark 1337, ip rule fwmark 1337 lookup 133         |      |                    |
#  |                        lo [1]                     eth0 [2]  |------| [3] eth0           |
#  |                                  192.0.2.2, 2001:db8:1::2   |      | 192.0.2.3          |
#  +-------------------------------------------------------------+      | 2001:db8:1::3      |
#                                                                       +--------------------+
#   [1]..[3]: capture points (tplab capture); outbound runs read them 1-2-3, inbound runs 3-2-1
#
# A sidecar shares the pod's network namespace, so every rule is in the pod and no router is
# involved. The app's own connections leave through OUTPUT: nat OUTPUT jumps to ISTIO_OUTPUT,
# which REDIRECTs them to 15001. The sidecar's upstream connections leave through OUTPUT too, and
# would be redirected again, to itself; what keeps them out is not a mark but their owner: tplab
# runs as uid 1337 (--user), and `-m owner --uid-owner 1337 -j RETURN` lets them pass. The peer's
# connections arrive through PREROUTING: REDIRECT sends them to 15006 in the nat table (the app
# then sees its own pod address as the caller; Envoy shows it 127.0.0.6), TPROXY in the mangle
# table with mark 1337 and the `local` route of table 133 (tplab binds the peer's address with
# --spoof-source, as Envoy's original_src does, so the app sees the real peer). Outbound is nat
# OUTPUT's REDIRECT in both modes: TPROXY changes only the inbound half. Then the uid exemption
# is deleted on purpose: every outbound request loops into 15001, tplab refuses each loop and
# survives, and the exemption is put back. In REDIRECT mode Istio's hairpin rule, which the lab
# leaves out, is put back for a moment: it catches tplab's connection to the app (from the pod's
# address) and loops it into 15006, while the same connection from 127.0.0.6 (Envoy's source)
# passes. Rules: Istio's tools/istio-iptables (pkg/capture/run.go, and the golden files
# pkg/capture/testdata/inbound-ports-wildcard*.golden), trimmed to this traffic
# (docs/labs/12-sidecar.md lists what was left out and why). Runs: redirect-out-, redirect-in-,
# tproxy-out-, tproxy-in- per family. Checks read the proxies' events, the apps' logs, /proc and
# iptables.
#
# Usage: sudo labs/12-sidecar.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       keep the run directories and report.txt / report.json / report.html in DIR
#                   (default: a temp dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Needs a user with uid 1337 (Istio's istio-proxy): if there is none, the lab adds the system
# user istio-proxy for the run and deletes it at the end. Takes 20 to 30 s.
# Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP. Docs: docs/labs/12-sidecar.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
setup_lab ip ss iptables ip6tables curl socat timeout python3 conntrack getent useradd userdel setpriv

# Istio's numbers (tools/istio-iptables/pkg/constants/constants.go and its flags' defaults): the
# proxy's uid, the outbound and inbound capture ports, the TPROXY mark and its routing table.
readonly sc_uid=1337 sc_out_port=15001 sc_in_port=15006 sc_mark=1337 sc_table=133
readonly loop_requests=10
ns_pod="${LAB_PREFIX}-pod"
ns_peer="${LAB_PREFIX}-peer"
readonly pod_ip4=192.0.2.2 peer_ip4=192.0.2.3 pod_ip6=2001:db8:1::2 peer_ip6=2001:db8:1::3

# sidecar_user: the name of the user with uid 1337, which tplab proxy --user becomes. Without one,
# add the system user istio-proxy (Istio's name for it) and delete it at exit.
sidecar_user=""
find_sidecar_user() {
    local entry
    entry=$(getent passwd "$sc_uid" || true)
    if [[ -n "$entry" ]]; then
        sidecar_user=${entry%%:*}
        log "the sidecar's user: $sidecar_user (uid $sc_uid)"
        return 0
    fi
    if getent passwd istio-proxy >/dev/null; then
        skip "a user istio-proxy exists, but not with uid $sc_uid: the owner match needs uid $sc_uid"
    fi
    log "(no user has uid $sc_uid here: add one for the run, as the sidecar's image has)"
    defer userdel --force istio-proxy
    run - useradd --system --no-create-home --uid "$sc_uid" --user-group --shell /usr/sbin/nologin \
        istio-proxy >/dev/null || skip "useradd could not add istio-proxy with uid $sc_uid"
    sidecar_user=istio-proxy
}

# pod_topology FAMILY: the pod and the peer, one veth between them, both families' addresses.
pod_topology() {
    use_family "$1"
    create_ns "$ns_pod" "$ns_peer"
    add_link "$ns_pod" eth0 "$ns_peer" eth0
    add_addr "$ns_pod" eth0 "$pod_ip4/24" "$pod_ip6/64"
    add_addr "$ns_peer" eth0 "$peer_ip4/24" "$peer_ip6/64"
    if [[ "$fam" == ipv4 ]]; then
        pod_ip=$pod_ip4 peer_ip=$peer_ip4 lo_net=127.0.0.1/32 pass_src=127.0.0.6/32
    else
        pod_ip=$pod_ip6 peer_ip=$peer_ip6 lo_net=::1/128 pass_src=::6/128
    fi
    log "topology: $ns_pod ($pod_ip4, $pod_ip6) -- $ns_peer ($peer_ip4, $peer_ip6)"
}

# istio_common: the chains both modes share, in the nat table: the two REDIRECT chains and the
# outbound capture (ISTIO_OUTPUT). Istio's order, with its own chain names.
istio_common() {
    local t=(-t nat)
    run "$ns_pod" "$ipt" "${t[@]}" -N ISTIO_INBOUND
    run "$ns_pod" "$ipt" "${t[@]}" -N ISTIO_REDIRECT
    run "$ns_pod" "$ipt" "${t[@]}" -N ISTIO_IN_REDIRECT
    run "$ns_pod" "$ipt" "${t[@]}" -N ISTIO_OUTPUT
    run "$ns_pod" "$ipt" "${t[@]}" -A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports "$sc_out_port"
    run "$ns_pod" "$ipt" "${t[@]}" -A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports "$sc_in_port"
}

# istio_output: nat OUTPUT -> ISTIO_OUTPUT, the outbound half, the same in both modes.
istio_output() {
    local t=(-t nat)
    run "$ns_pod" "$ipt" "${t[@]}" -A OUTPUT -j ISTIO_OUTPUT
    run "$ns_pod" "$ipt" "${t[@]}" -A ISTIO_OUTPUT -o lo -s "$pass_src" -j RETURN
    run "$ns_pod" "$ipt" "${t[@]}" -A ISTIO_OUTPUT -o lo -m owner ! --uid-owner "$sc_uid" -j RETURN
    run "$ns_pod" "$ipt" "${t[@]}" -A ISTIO_OUTPUT -m owner --uid-owner "$sc_uid" -j RETURN
    run "$ns_pod" "$ipt" "${t[@]}" -A ISTIO_OUTPUT -d "$lo_net" -j RETURN
    run "$ns_pod" "$ipt" "${t[@]}" -A ISTIO_OUTPUT -j ISTIO_REDIRECT
}

# istio_redirect_rules: interceptionMode REDIRECT (Istio's default): inbound in nat PREROUTING.
istio_redirect_rules() {
    istio_common
    run "$ns_pod" "$ipt" -t nat -A PREROUTING -p tcp -j ISTIO_INBOUND
    run "$ns_pod" "$ipt" -t nat -A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
    istio_output
}

# istio_tproxy_rules: interceptionMode TPROXY: the same nat chains for outbound, inbound in the
# mangle table, marked 1337 and delivered by the local route of table 133.
istio_tproxy_rules() {
    local m=(-t mangle)
    run "$ns_pod" ip "$ip_f" rule add fwmark "$sc_mark" lookup "$sc_table"
    run "$ns_pod" ip "$ip_f" route add local "$any_net" dev lo table "$sc_table"
    istio_common
    run "$ns_pod" "$ipt" "${m[@]}" -N ISTIO_DIVERT
    run "$ns_pod" "$ipt" "${m[@]}" -N ISTIO_TPROXY
    run "$ns_pod" "$ipt" "${m[@]}" -N ISTIO_INBOUND
    run "$ns_pod" "$ipt" "${m[@]}" -A ISTIO_DIVERT -j MARK --set-mark "$sc_mark"
    run "$ns_pod" "$ipt" "${m[@]}" -A ISTIO_DIVERT -j ACCEPT
    run "$ns_pod" "$ipt" "${m[@]}" -A ISTIO_TPROXY ! -d "$lo_net" -p tcp -j TPROXY \
        --tproxy-mark "$sc_mark/0xffffffff" --on-port "$sc_in_port"
    run "$ns_pod" "$ipt" "${m[@]}" -A PREROUTING -p tcp -j ISTIO_INBOUND
    run "$ns_pod" "$ipt" "${m[@]}" -A ISTIO_INBOUND -p tcp -m mark --mark "$sc_mark" -j RETURN
    run "$ns_pod" "$ipt" "${m[@]}" -A ISTIO_INBOUND -p tcp -s "$pass_src" -i lo -j RETURN
    run "$ns_pod" "$ipt" "${m[@]}" -A ISTIO_INBOUND -p tcp -i lo -m mark ! --mark 1338 -j RETURN
    run "$ns_pod" "$ipt" "${m[@]}" -A ISTIO_INBOUND -p tcp -m conntrack --ctstate RELATED,ESTABLISHED \
        -j ISTIO_DIVERT
    run "$ns_pod" "$ipt" "${m[@]}" -A ISTIO_INBOUND -p tcp -j ISTIO_TPROXY
    run "$ns_pod" "$ipt" "${m[@]}" -A PREROUTING -p tcp -m mark --mark "$sc_mark" -j CONNMARK --save-mark
    run "$ns_pod" "$ipt" "${m[@]}" -A OUTPUT -p tcp -o lo -m mark --mark "$sc_mark" -j RETURN
    run "$ns_pod" "$ipt" "${m[@]}" -A OUTPUT -p tcp -m connmark --mark "$sc_mark" -j CONNMARK --restore-mark
    istio_output
}

# start_sidecar RUNDIR MODE PORT [OPTION...]: one tplab proxy of the sidecar, as uid 1337; sets
# RUNDIR's proxy_pid (the timeout wrapper) and tplab_pid_of[RUNDIR] (tplab itself).
declare -A tplab_pid_of=() wrapper_of=()
start_sidecar() {
    local rundir=$1 mode=$2 port=$3 listen=()
    shift 3
    if [[ "$mode" == tproxy && "$fam" == ipv4 ]]; then
        listen=(--listen "0.0.0.0:$port")
    else
        listen=(--listen "[::]:$port")
    fi
    start_bg "$ns_pod" "$rundir/proxy.log" tplab proxy --mode "$mode" "${listen[@]}" --user "$sidecar_user" \
        "$@" --events "$rundir/events.jsonl"
    wrapper_of[$rundir]=$bg_pid
    wait_listening "$ns_pod" "$port" || { cat "$rundir/proxy.log" >&2; die "the sidecar did not listen on $port"; }
    busywait "$LAB_WAIT" lab_file_has "$rundir/proxy.log" "running as user" ||
        { cat "$rundir/proxy.log" >&2; die "the sidecar on $port did not switch user"; }
    tplab_pid_of[$rundir]=$(pgrep -P "$bg_pid" -x tplab | head -n1)
}

# proc_uid PID: the real uid of PID (/proc/PID/status).
proc_uid() {
    awk '$1 == "Uid:" { print $2 }' "/proc/$1/status" 2>/dev/null
}

fd_count() {
    local fds=(/proc/"$1"/fd/*)
    printf '%s' "${#fds[@]}"
}

# one_direction RUNDIR FROM_NS TO_IP TO_NS: the run's traffic under capture: one curl request
# from FROM_NS to TO_IP, and a socat connection to the hold port that the server keeps open for
# LAB_HOLD s, during which the pod's sockets (ss -tanpe: uid:1337 on the sidecar's) are recorded.
one_direction() {
    local rundir=$1 from=$2 to=$3 to_ns=$4 host hold_pid rc=0 addr=TCP4
    host=$(url_host "$to")
    [[ "$to" == *:* ]] && addr=TCP6
    start_capture "$rundir"
    : >"$rundir/client.txt"
    run "$from" curl --noproxy '*' -sS --max-time 4 -w 'curl: connected to %{remote_ip}:%{remote_port}\n' \
        "http://$host:$lab_http_port/" >>"$rundir/client.txt" 2>&1 || true
    start_bg "$from" "$rundir/hold.out" socat -u "$addr:$host:$lab_hold_port,connect-timeout=3" STDOUT
    hold_pid=$bg_pid
    busywait $((LAB_HOLD + 2)) lab_held_or_gone "$to_ns" "$lab_hold_port" "$hold_pid" || true
    record_sockets "$ns_pod" "$rundir"
    wait_bg "$hold_pid" $((LAB_HOLD + 4)) || rc=$?
    cat "$rundir/hold.out" >>"$rundir/client.txt"
    printf 'socat: exit status %s\n' "$rc" >>"$rundir/client.txt"
    rm -f "$rundir/hold.out"
    lab_indent "$rundir/client.txt"
    wait_events_closed "$rundir/events.jsonl" 2 || log "(the sidecar did not report both connections closed)"
    stop_capture
    show_capture_table "$rundir"
    record_gateway_state "$ns_pod" "$rundir"
}

# loop_without_exemption RUNDIR: delete the uid exemption, send loop_requests requests from the
# app, count what the outbound sidecar did with them, and put the rule back where it was.
loop_without_exemption() {
    local rundir=$1 pid=${tplab_pid_of[$1]} before after ok=0 i pos first
    local rule=(-m owner --uid-owner "$sc_uid" -j RETURN)
    section "$rundir: the uid exemption deleted: the sidecar's own connections loop back to 15001"
    pos=$(lab_in "$ns_pod" "$ipt" -t nat -S ISTIO_OUTPUT | grep -n -- "-A ISTIO_OUTPUT -m owner --uid-owner $sc_uid -j RETURN" |
        cut -d: -f1)
    pos=$((pos - 1))  # (line 1 of -S is the chain's -N)
    cp "$rundir/events.jsonl" "$rundir/events-before-loop.jsonl"
    run "$ns_pod" "$ipt" -t nat -D ISTIO_OUTPUT "${rule[@]}"
    before=$(fd_count "$pid")
    : >"$rundir/loop-curl.txt"
    show_cmd "$ns_pod" "" curl --noproxy '*' -sS --max-time 3 "http://$(url_host "$peer_ip"):$lab_http_port/"
    log "    ... $loop_requests times"
    for ((i = 0; i < loop_requests; i++)); do
        if lab_in "$ns_pod" curl --noproxy '*' -sS --max-time 3 "http://$(url_host "$peer_ip"):$lab_http_port/" \
            >>"$rundir/loop-curl.txt" 2>&1; then
            ok=$((ok + 1))
        fi
    done
    sort "$rundir/loop-curl.txt" | uniq -c | lab_indent
    after=$(fd_count "$pid")
    log "the outbound sidecar's open fds (/proc/$pid/fd): $before before the $loop_requests requests, $after after"
    log "one loop, as its events tell it:"
    first=$(grep -m1 -n '"reason":"loop_refused"' "$rundir/events.jsonl" | cut -d: -f1 || true)
    if [[ -n "$first" ]]; then
        sed -n "$((first > 3 ? first - 3 : 1)),$((first))p" "$rundir/events.jsonl" | lab_indent
    fi
    log "the exemption back in its place (rule $pos of ISTIO_OUTPUT):"
    run "$ns_pod" "$ipt" -t nat -I ISTIO_OUTPUT "$pos" "${rule[@]}"
    run "$ns_pod" "$ipt" -t nat -S ISTIO_OUTPUT | tee "$rundir/output-chain.txt" | lab_indent
    run "$ns_pod" curl --noproxy '*' -sS --max-time 3 "http://$(url_host "$peer_ip"):$lab_http_port/" \
        >"$rundir/curl-after.txt" 2>&1 || true
    lab_indent "$rundir/curl-after.txt"
    run_fact[$rundir,ok]=$ok run_fact[$rundir,fd_before]=$before run_fact[$rundir,fd_after]=$after
    run_fact[$rundir,pid_alive]=$(kill -0 "$pid" 2>/dev/null && echo yes || echo no)
}

# hairpin RUNDIR: Istio's hairpin rule, which the lab leaves out, put back for a moment (REDIRECT
# mode's inbound run): it sends the sidecar's connections to a pod address back to 15006, tplab's
# connection to the app too, which leaves from the pod's address. Envoy's leaves from 127.0.0.6,
# which ISTIO_OUTPUT's first rule returns: the lab makes the same connection from there.
hairpin() {
    local rundir=$1 host lines src=${pass_src%/*}
    local rule=(-o lo ! -d "$lo_net" -p tcp ! --dport 15008 -m owner --uid-owner "$sc_uid" -j ISTIO_IN_REDIRECT)
    host=$(url_host "$pod_ip")
    section "$rundir: Istio's hairpin rule put back: why Envoy binds $src"
    cp "$rundir/events.jsonl" "$rundir/events-before-hairpin.jsonl"
    cp "$rundir/pod.http.log" "$rundir/pod-before-hairpin.log"
    lines=$(wc -l <"$rundir/pod.http.log")
    if [[ "$fam" == ipv6 ]]; then
        log "(Istio adds ::6 to lo for Envoy to bind; IPv4 has all of 127.0.0.0/8 on lo already)"
        run "$ns_pod" ip -6 addr add ::6/128 dev lo
    fi
    run "$ns_pod" "$ipt" -t nat -I ISTIO_OUTPUT 2 "${rule[@]}"
    log "the peer calls the app: tplab's connection to the app is uid $sc_uid, on lo, to a pod address:"
    run "$ns_peer" curl --noproxy '*' -sS --max-time 3 "http://$host:$lab_http_port/" \
        >"$rundir/hairpin-peer.txt" 2>&1 || true
    lab_indent "$rundir/hairpin-peer.txt"
    busywait "$LAB_WAIT" lab_file_has "$rundir/events.jsonl" '"loop_refused"' || true
    grep '"loop_refused"' "$rundir/events.jsonl" | head -n1 | lab_indent || true
    log "the same connection from $src, as uid $sc_uid (Envoy's inbound passthrough binds it):"
    run "$ns_pod" setpriv --reuid "$sc_uid" --regid "$sc_uid" --clear-groups curl --noproxy '*' -sS \
        --max-time 3 --interface "$src" "http://$host:$lab_http_port/" >"$rundir/hairpin-6.txt" 2>&1 || true
    lab_indent "$rundir/hairpin-6.txt"
    log "what the app logged for it:"
    tail -n +$((lines + 1)) "$rundir/pod.http.log" | tee "$rundir/hairpin-app.log" | lab_indent
    run "$ns_pod" "$ipt" -t nat -D ISTIO_OUTPUT "${rule[@]}"
}

# finish_run RUNDIR MODE: stop RUNDIR's sidecar (a check) and keep the run's facts for the checks.
finish_run() {
    local rundir=$1 mode=$2 rc=0
    stop_bg "${wrapper_of[$rundir]}" TERM || rc=$?
    check_eq "$rundir: its sidecar exited cleanly on SIGTERM" "$rc" 0
    run_fact[$rundir,pod]=$pod_ip run_fact[$rundir,peer]=$peer_ip run_fact[$rundir,mode]=$mode
}

one_mode() {
    local mode=$1 family=$2 out="$1-out-$2" in="$1-in-$2" in_opts=() lanes
    section "interceptionMode ${mode^^}, $family: $out/ and $in/"
    fresh_rundir "$out"
    fresh_rundir "$in"
    pod_topology "$family"
    log "the app's server in the pod, the other service's in the peer:"
    start_lab_servers "$ns_pod" "$in"
    start_lab_servers "$ns_peer" "$out"
    log "Istio's rules for interceptionMode ${mode^^}, trimmed to this traffic:"
    if [[ "$mode" == tproxy ]]; then
        istio_tproxy_rules
    else
        istio_redirect_rules
    fi
    log "the sidecar: one tplab proxy per direction (one mode each), both as uid $sc_uid:"
    start_sidecar "$out" redirect "$sc_out_port"
    [[ "$mode" == tproxy ]] && in_opts=(--spoof-source --mark "$sc_mark")
    start_sidecar "$in" "$mode" "$sc_in_port" "${in_opts[@]}"
    run_fact[$out,uid]=$(proc_uid "${tplab_pid_of[$out]}")
    run_fact[$in,uid]=$(proc_uid "${tplab_pid_of[$in]}")
    log "(tplab proxies: pid ${tplab_pid_of[$out]} uid ${run_fact[$out,uid]} on $sc_out_port," \
        "pid ${tplab_pid_of[$in]} uid ${run_fact[$in,uid]} on $sc_in_port)"

    section "$out: the app calls the other service (outbound, nat OUTPUT -> 15001)"
    lab_points=()
    add_point pod:lo "$ns_pod" lo app sidecar
    add_point pod:eth0 "$ns_pod" eth0 sidecar peer
    add_point peer:eth0 "$ns_peer" eth0 sidecar peer
    one_direction "$out" "$ns_pod" "$peer_ip" "$ns_peer"
    write_meta "$out" 12-sidecar "$mode" "${mode^^} sidecar, outbound (the app calls out), $fam_name" \
        "$fam" app,sidecar,peer

    section "$in: the other service calls the app (inbound, ${mode^^} -> 15006)"
    log "(the counters back to zero, so that $in/rules.txt counts only the inbound traffic)"
    run "$ns_pod" "$ipt" -t nat -Z
    run "$ns_pod" "$ipt" -t mangle -Z
    lab_points=()
    add_point peer:eth0 "$ns_peer" eth0 peer sidecar
    add_point pod:eth0 "$ns_pod" eth0 peer sidecar
    add_point pod:lo "$ns_pod" lo sidecar app
    one_direction "$in" "$ns_peer" "$pod_ip" "$ns_pod"
    lanes=peer,sidecar,app
    write_meta "$in" 12-sidecar "$mode" "${mode^^} sidecar, inbound (the app is called), $fam_name" \
        "$fam" "$lanes"

    [[ "$mode" == redirect ]] && hairpin "$in"
    loop_without_exemption "$out"
    finish_run "$out" "$mode"
    finish_run "$in" "$mode"
    run_dirs+=("$out" "$in")
    pause_here
    teardown_ns "$ns_pod" "$ns_peer"
}

find_sidecar_user
for family in "${lab_families[@]}"; do
    for mode in redirect tproxy; do
        one_mode "$mode" "$family"
    done
done

run_report "tplab report: outbound and inbound, REDIRECT then TPROXY"

# accepted EVENTS: "mode listener local original_dst recovered_by" of the first accepted event,
# and on a second line its connected event's upstream_local address (no port).
accepted() {
    "$lab_py" -c '
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
acc = [e for e in ev if e.get("event") == "accepted"][:1]
con = [e for e in ev if e.get("event") == "connected" and acc and e.get("id") == acc[0]["id"]][:1]
if acc:
    a = acc[0]
    print(a["mode"], a["listener"], a["local"], a["original_dst"], a["recovered_by"])
if con:
    print(con[0]["upstream_local"].rsplit(":", 1)[0].strip("[]"))' "$1"
}

# counter RUNDIR PATTERN: the packet counter of the first rule in RUNDIR/rules.txt (iptables-save -c
# of the run's family) that matches the extended PATTERN; 0 if none.
counter() {
    local table=iptables-save
    [[ "$1" == *-ipv6 ]] && table=ip6tables-save
    awk -v t="$table" '/^### /{on = ($3 == t)} on' "$1/rules.txt" | grep -m1 -E -- "$2" |
        sed -n 's/^\[\([0-9]*\):.*/\1/p' | grep . || echo 0
}

section "checks (from the sidecars' events, the apps' logs, /proc and iptables)"
for rd in "${run_dirs[@]}"; do
    mode=${run_fact[$rd,mode]} pod=${run_fact[$rd,pod]} peer=${run_fact[$rd,peer]}
    by=SO_ORIGINAL_DST lo_ep=127.0.0.1
    [[ "$rd" == *-ipv6 ]] && by=IP6T_SO_ORIGINAL_DST lo_ep='[::1]'
    check_eq "$rd: the sidecar ran as uid $sc_uid (/proc/PID/status)" "${run_fact[$rd,uid]}" "$sc_uid"
    mapfile -t got < <(accepted "$rd/events.jsonl")
    log_file=$rd/pod.http.log
    [[ "$rd" == *-out-* ]] && log_file=$rd/peer.http.log
    [[ -f "$rd/pod-before-hairpin.log" ]] && log_file=$rd/pod-before-hairpin.log
    peers=$(server_log_peers "$log_file" | paste -sd' ')
    if [[ "$rd" == *-out-* ]]; then
        check_eq "$rd: both of the app's requests were answered by the peer (curl and socat)" \
            "$(grep -c '^served by peer$' "$rd/client.txt" || true)" 2
        check_eq "$rd: 15001 took the app's call to the peer, redirected in nat OUTPUT to $lo_ep" \
            "${got[0]:-}" "redirect [::]:$sc_out_port $lo_ep:$sc_out_port $(endpoint "$peer" 80) $by"
        n=$(counter "$rd" "-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports $sc_out_port")
        check "$rd: outbound went through nat OUTPUT's ISTIO_REDIRECT (its counter: $n packets)" test "$n" -gt 0
        if [[ "$mode" == tproxy ]]; then
            n=$(counter "$rd" "-j TPROXY")
            check_eq "$rd: ... and not through TPROXY, even in TPROXY mode (its counter)" "$n" 0
        fi
        check_eq "$rd: the peer saw the pod's address: the sidecar's upstream, not the app's" \
            "$peers" "${got[1]:-none}"
        check_eq "$rd: ... which is the pod's own address" "${got[1]:-}" "$pod"
        check_eq "$rd: with the exemption, no loop was refused" \
            "$(grep -c '"reason":"loop_refused"' "$rd/events-before-loop.jsonl" || true)" 0
        loops=$(grep -c '"reason":"loop_refused"' "$rd/events.jsonl" || true)
        check_eq "$rd: without it, every one of the $loop_requests requests looped and was refused" \
            "$loops" "$loop_requests"
        n=$(grep '"reason":"loop_refused"' "$rd/events.jsonl" | grep -c 'intercepted again' || true)
        check_eq "$rd: ... each as the sidecar's own upstream connection intercepted again" "$n" "$loops"
        check_eq "$rd: ... none of them was answered" "${run_fact[$rd,ok]}" 0
        check_eq "$rd: the sidecar survived the loops" "${run_fact[$rd,pid_alive]}" yes
        check "$rd: its fds stayed bounded (${run_fact[$rd,fd_before]} before, ${run_fact[$rd,fd_after]} after)" \
            test "${run_fact[$rd,fd_after]}" -le $((${run_fact[$rd,fd_before]} + 2))
        check_eq "$rd: with the exemption back, the app's request works again" \
            "$(head -n1 "$rd/curl-after.txt")" "served by peer"
    else
        check_eq "$rd: both of the peer's requests were answered by the app (curl and socat)" \
            "$(grep -c '^served by pod$' "$rd/client.txt" || true)" 2
        if [[ "$mode" == redirect ]]; then
            want="redirect [::]:$sc_in_port $(endpoint "$pod" "$sc_in_port") $(endpoint "$pod" 80) $by"
            saw=$pod what="the pod's own address, not the peer's"
        else
            want="tproxy 0.0.0.0:$sc_in_port"
            [[ "$rd" == *-ipv6 ]] && want="tproxy [::]:$sc_in_port"
            want+=" $(endpoint "$pod" 80) $(endpoint "$pod" 80) getsockname"
            saw=$peer what="the peer's own address (--spoof-source)"
        fi
        check_eq "$rd: 15006 took the peer's call, with the app's address as original destination" \
            "${got[0]:-}" "$want"
        check_eq "$rd: the app saw the call come from $what" "$peers" "$saw"
        check_eq "$rd: ... the sidecar's upstream address" "${got[1]:-}" "$saw"
        if [[ "$mode" == redirect ]]; then
            src=127.0.0.6
            [[ "$rd" == *-ipv6 ]] && src=::6
            got_line=$(head -n1 "$rd/hairpin-peer.txt")
            check "$rd: with the hairpin rule, the peer's call failed ($got_line)" \
                test "$got_line" != "served by pod"
            n=$(grep '"reason":"loop_refused"' "$rd/events.jsonl" | grep -c 'intercepted again' || true)
            check "$rd: ... tplab's connection to the app came back to 15006 ($n loops refused)" \
                test "$n" -ge 1
            check_eq "$rd: ... while the same call from $src passed ISTIO_OUTPUT's first rule" \
                "$(head -n1 "$rd/hairpin-6.txt")" "served by pod"
            check_eq "$rd: ... and the app saw it come from $src" \
                "$(server_log_peers "$rd/hairpin-app.log" | paste -sd' ')" "$src"
        fi
    fi
done

log ""
log "finished in ${SECONDS}s"
lab_exit
