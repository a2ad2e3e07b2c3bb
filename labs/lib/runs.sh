# shellcheck shell=bash
# Part of labs/lib.sh, which sources every part in order (source lib.sh, not this file).
# One run, start to end: capture points, tplab capture, meta.json, the kernel snapshots
# (rules, conntrack, sockets), the servers and the traffic, and tplab proxy.

#### Runs: captures, state snapshots, metadata #################################
#
# One run = one mode and one family, recorded in a run directory that `tplab report` reads:
#   meta.json, NS-IFACE.pcap (tplab capture), events.jsonl (the proxy's), conntrack.txt,
#   sockets.txt, rules.txt, plus client.txt (what the client printed).

readonly lab_http_port=80    # the name server (HTTP; curl)
readonly lab_hold_port=8080  # socat server that waits LAB_HOLD s before it answers (holds a connection open)
# shellcheck disable=SC2034  # read by the labs
readonly lab_ports="$lab_http_port,$lab_hold_port"  # both, for the rules' -m multiport --dports

lab_points=()        # capture points, "LABEL|NS|IFACE|LANE_A|LANE_B", in path order
lab_capture_pids=()  # the running tplab captures (one per machine)
lab_capture_ready=() # their ready files
lab_capture_files=() # their pcap files, FILE=MACHINE (- for this one), client first
lab_capture_filter=tcp  # the BPF filter start_capture gives tplab capture (a UDP lab sets udp)
lab_client_proxy=""  # an explicit proxy the client is configured with (socks5://ADDR:PORT), or none

# add_point LABEL NS IFACE LANE_A LANE_B: a capture point (LABEL like gateway:veth-c) on the
# wire between LANE_A and LANE_B (client side first). Add them in path order, client first.
add_point() {
    lab_points+=("$1|$2|$3|$4|$5")
}

# standard_points: the capture points of the client-gateway-server topology, in path order. With
# the proxy box, its link comes between the gateway's two: the proxy's upstream connection goes
# back through the gateway to the server.
standard_points() {
    lab_points=()
    add_point client:eth0 "$ns_client" eth0 client gateway
    add_point gateway:veth-c "$ns_gw" veth-c client gateway
    if lab_has_proxy_box; then
        add_point gateway:veth-p "$ns_gw" veth-p gateway proxy
        add_point proxy:eth0 "$ns_proxy" eth0 gateway proxy
    fi
    add_point gateway:veth-s "$ns_gw" veth-s gateway server
    add_point server:eth0 "$ns_server" eth0 gateway server
}

lab_file_exists() {
    [[ -e "$1" ]]
}

# start_capture RUNDIR [NS:IFACE...]: start `tplab capture` (lab_capture_filter) on the points, or on
# lab_points, writing RUNDIR/NS-IFACE.pcap; returns once every point captures (the ready file),
# so traffic sent afterwards is never missed. Runs in the host's namespace: tplab enters each
# point's namespace itself. With namespaces on other machines (LAB_MACHINES), one tplab capture
# runs on each machine for the points there, with its own ready file and log.
start_capture() {
    local rundir=$1 point entry label ns ifname machine points=()
    shift
    if (($# == 0)); then
        for entry in "${lab_points[@]}"; do
            IFS='|' read -r label ns ifname _ <<<"$entry"
            points+=("$ns:$ifname")
        done
    else
        points=("$@")
    fi
    # One tplab capture per machine: its --at options, and a namespace that lives there.
    local -A args_on=() ns_on=()
    lab_capture_files=()
    for point in "${points[@]}"; do
        lab_locate "${point%%:*}"
        machine=${lab_host:--}
        args_on[$machine]+=" --at $point"
        ns_on[$machine]=${point%%:*}
        lab_capture_files+=("$rundir/${point%%:*}-${point#*:}.pcap=$machine")
    done
    mkdir -p "$rundir"
    lab_capture_pids=()
    lab_capture_ready=()
    local log ready at_args
    for machine in "${!args_on[@]}"; do
        read -ra at_args <<<"${args_on[$machine]}"
        log="$rundir/capture.log" ready=capture.ready
        [[ "$machine" == - ]] || log="$rundir/capture.$machine.log" ready="capture.$machine.ready"
        rm -f "$ready"
        lab_capture_ready+=("$ready")
        set -- tplab capture "${at_args[@]}" -o "$rundir" -f "$lab_capture_filter" --ready-file "$ready"
        if [[ "$machine" == - ]]; then
            start_bg - "$log" "$@"
        else
            show_cmd "$machine" " >$log 2>&1 &" "$@"
            lab_start_job "${ns_on[$machine]}" "" "$log" "$@"
        fi
        lab_capture_pids+=("$bg_pid")
        if ! busywait "$LAB_WAIT" lab_file_exists "$ready"; then
            cat "$log" >&2
            die "tplab capture did not get ready"
        fi
    done
}

# stop_capture: let the last packets arrive, stop tplab capture with SIGTERM, show its table.
stop_capture() {
    local pid rc
    sleep 0.1
    for pid in "${lab_capture_pids[@]}"; do
        rc=0
        stop_bg "$pid" TERM || rc=$?
        ((rc == 0)) || log "tplab capture exited with status $rc"
    done
    rm -f "${lab_capture_ready[@]}"
    if ((${#lab_capture_pids[@]} > 1)); then
        log "the machines' clocks differ: aligning the captures on the frames both ends of a wire saw"
        "$lab_py" "$lab_dir/lib/align_clocks.py" "${lab_capture_files[@]}" | lab_indent
    fi
    lab_capture_pids=()
    lab_capture_ready=()
}

# show_capture_table RUNDIR: the table tplab capture printed when it stopped (one per machine).
show_capture_table() {
    local log
    for log in "$1"/capture.log "$1"/capture.*.log; do
        [[ -f "$log" ]] && { grep -v '^tplab: capturing' "$log" | lab_indent || true; }
    done
    return 0
}

# write_meta RUNDIR LAB MODE TITLE FAMILY LANES: RUNDIR/meta.json for tplab report. LANES is a
# comma-separated list (client,gateway,server); the points are lab_points; the run's name (its
# column heading) is RUNDIR's last component.
write_meta() {
    local rundir=$1 lab=$2 mode=$3 title=$4 family=$5 lanes=$6
    "$lab_py" - "${rundir%/}/meta.json" "$lab" "$mode" "$title" "$family" "$lanes" "${lab_points[@]}" <<'EOF'
import json, sys
path, lab, mode, title, family, lanes, *points = sys.argv[1:]
name = path.rstrip("/").split("/")[-2] if "/" in path else mode
meta = {"name": name, "lab": lab, "mode": mode, "title": title, "family": family,
        "lanes": lanes.split(","), "points": []}
for p in points:
    label, ns, ifname, a, b = p.split("|")
    meta["points"].append({"label": label, "file": f"{ns}-{ifname}.pcap", "between": [a, b]})
with open(path, "w") as f:
    json.dump(meta, f, indent=2)
    f.write("\n")
EOF
}

# lab_ns_state NS CMD...: a section of a state file: `### [ns] CMD`, then CMD's output in NS.
lab_ns_state() {
    local ns=$1
    shift
    lab_quote "$@"
    printf '### [%s] %s\n' "${ns#"${LAB_PREFIX}"-}" "$lab_quoted"
    lab_in "$ns" "$@" 2>&1 || true
}

# record_rules NS RUNDIR [nft]: append NS's firewall rules with their counters (iptables-save -c,
# ip6tables-save -c, and `nft list ruleset` if the third argument is nft), its policy-routing
# rules and its non-local routes to RUNDIR/rules.txt.
record_rules() {
    local ns=$1 rundir=$2 with_nft=${3:-}
    {
        lab_ns_state "$ns" iptables-save -c
        lab_ns_state "$ns" ip6tables-save -c
        if [[ "$with_nft" == nft ]]; then
            lab_ns_state "$ns" nft list ruleset
        fi
        lab_ns_state "$ns" ip rule
        lab_ns_state "$ns" ip -6 rule
        printf '### [%s] %s\n' "${ns#"${LAB_PREFIX}"-}" "ip -4 route show table all | grep -v '^local.*table local'"
        lab_in "$ns" ip -4 route show table all | grep -v '^local.*table local' || true
        printf '### [%s] %s\n' "${ns#"${LAB_PREFIX}"-}" "ip -6 route show table all | grep -v '^local.*table local'"
        lab_in "$ns" ip -6 route show table all | grep -v '^local.*table local' || true
    } >>"$rundir/rules.txt"
}

# record_conntrack NS FILE: NS's conntrack table, both families, to FILE ("unavailable" if
# conntrack-tools is not installed). Entries of closed connections stay in TIME_WAIT for minutes.
record_conntrack() {
    local ns=$1 file=$2
    if ! command -v conntrack >/dev/null 2>&1; then
        printf 'unavailable\n' >"$file"
        return 0
    fi
    {
        lab_in "$ns" conntrack -L -f ipv4 2>/dev/null || true
        lab_in "$ns" conntrack -L -f ipv6 2>/dev/null || true
    } >"$file"
}

# record_gateway_state NS RUNDIR [nft]: after the traffic, the gateway's conntrack table
# (RUNDIR/conntrack.txt) and its rules with counters and policy routing (RUNDIR/rules.txt).
# Call record_rules again to add another box's rules.
record_gateway_state() {
    local ns=$1 rundir=$2 with_nft=${3:-}
    log "recording $ns's conntrack table, rules with counters and routes: $rundir/conntrack.txt, $rundir/rules.txt"
    record_conntrack "$ns" "$rundir/conntrack.txt"
    : >"$rundir/rules.txt"
    record_rules "$ns" "$rundir" "$with_nft"
}

# show_firewall NS RUNDIR: NS's whole firewall (iptables-save, ip6tables-save, nft list ruleset)
# into RUNDIR/firewall.txt, and printed; the policy-routing labs (AnyIP, sk-lookup) expect none.
show_firewall() {
    ns_exec "$1" sh -c 'iptables-save; ip6tables-save; nft list ruleset 2>/dev/null' |
        grep -v '^#' >"$2/firewall.txt" || true
    log "the gateway's firewall (iptables-save, ip6tables-save, nft list ruleset):"
    if [[ -s "$2/firewall.txt" ]]; then
        lab_indent <"$2/firewall.txt"
    else
        log "    (empty: no table, no chain, no rule)"
    fi
}

# record_bpf_state NS RUNDIR: the BPF objects attached to NS's network namespace, while the
# proxy that attached them still runs (its link dies with it): `bpftool -j link show` filtered to
# links whose netns_ino is NS's, `bpftool -j prog show id N` for each of their programs, and the
# program's tplab_counters map (per CPU, summed), all in RUNDIR/bpf.json for tplab report.
# bpftool lists every namespace's links: the inode is what tells this gateway's apart.
record_bpf_state() {
    local ns=$1 rundir=$2 ino
    ino=$(lab_in "$ns" stat -L -c %i /proc/self/ns/net)
    log "recording the BPF link attached to $ns (netns inode $ino), its program and counters: $rundir/bpf.json"
    # (on the gateway's machine, where the link is: bpftool lists that kernel's objects)
    lab_on "$ns" "$lab_py" - "$ino" "$rundir/bpf.json" <<'PY' | lab_indent
import json, subprocess, sys
ino, path = int(sys.argv[1]), sys.argv[2]
def bpftool(*args):
    if args[:2] != ("map", "show"):  # (map show only finds tplab_counters' id)
        print("[host] # bpftool -j " + " ".join(args))
    out = subprocess.run(["bpftool", "-j", *args], capture_output=True, text=True).stdout
    return json.loads(out or "null")
def number(v):
    if isinstance(v, list):
        return int.from_bytes(bytes(int(b, 16) for b in v), "little")
    return int(v, 0) if isinstance(v, str) else int(v)
links = [l for l in bpftool("link", "show") or [] if l.get("netns_ino") == ino]
programs, counters = [], {}
for link in links:
    prog = bpftool("prog", "show", "id", str(link["prog_id"]))
    programs.append(prog)
    for map_id in prog.get("map_ids", []):
        info = bpftool("map", "show", "id", str(map_id)) or {}
        if info.get("name") != "tplab_counters":
            continue
        names = ["steered", "no_socket", "assign_failed", "outside_prefixes"]
        for entry in bpftool("map", "dump", "id", str(map_id)) or []:
            entry = entry.get("formatted", entry)  # (with BTF; else hex bytes, little-endian)
            key = number(entry.get("key"))
            total = sum(number(v.get("value", 0)) for v in entry.get("values", []))
            counters[names[key] if key < len(names) else str(key)] = total
state = {"netns_ino": ino, "links": links, "programs": programs, "counters": counters}
with open(path, "w") as f:
    json.dump(state, f, indent=2)
    f.write("\n")
for link in links:
    print(f"link {link['id']}: {link.get('type')} netns_ino {link.get('netns_ino')} "
          f"attach_type {link.get('attach_type')} prog_id {link['prog_id']}")
for prog in programs:
    print(f"prog {prog['id']}: {prog.get('type')} name {prog.get('name')} tag {prog.get('tag')} "
          f"map_ids {prog.get('map_ids')}")
print("tplab_counters (summed over CPUs): " + (json.dumps(counters) if counters else "none"))
PY
}

# record_sockets NS RUNDIR: the TCP and UDP sockets in NS with their processes and details
# (ss -tanpe, ss -uanpe) to RUNDIR/sockets.txt. Take it while a proxied connection is open.
record_sockets() {
    local ns=$1 rundir=$2
    log "recording $ns's sockets while the held connection is open: $rundir/sockets.txt"
    {
        # (stderr dropped: ss -e complains "Failed to find cgroup2 mount" where there is none)
        lab_in "$ns" ss -tanpe 2>/dev/null || true
        lab_in "$ns" ss -uanpe 2>/dev/null || true
    } >"$rundir/sockets.txt"
}

lab_established() {
    local ns=$1 port=$2
    [[ -n "$(lab_in "$ns" ss -Htn state established "sport = :$port" 2>/dev/null)" ]]
}

lab_held_or_gone() {
    lab_established "$1" "$2" || lab_pid_gone "$3"
}

# wait_bg PID [TIMEOUT]: wait for a start_bg job to end by itself; stop it with TERM if it has
# not after TIMEOUT seconds (default LAB_WAIT). Returns the job's exit status.
wait_bg() {
    local pid=$1 timeout=${2:-$LAB_WAIT}
    busywait "$timeout" lab_pid_gone "$pid" || true
    stop_bg "$pid" TERM
}

# start_lab_servers NS LOGDIR: the servers the run traffic goes to, in NS: the HTTP name server
# on port 80 and a socat server on 8080 that waits LAB_HOLD seconds (default 1), then answers
# "served by NAME" and closes. NAME is the namespace without the prefix; logs go to
# LOGDIR/NAME.http.log and .hold.log.
start_lab_servers() {
    local ns=$1 logdir=$2 name
    name=${ns#"${LAB_PREFIX}"-}
    mkdir -p "$logdir"
    start_name_server "$ns" "$name" "$lab_http_port" "$logdir/$name.http.log"
    start_bg "$ns" "$logdir/$name.hold.log" socat -d -d \
        "TCP6-LISTEN:$lab_hold_port,ipv6only=0,fork,reuseaddr" "SYSTEM:sleep $LAB_HOLD; echo served by $name"
    wait_listening "$ns" "$lab_hold_port" || { cat "$logdir/$name.hold.log" >&2; die "socat in $ns did not listen"; }
}

# send_lab_traffic RUNDIR SOCKETS_NS [DEST_IP]: the traffic of one run, from the client to DEST_IP
# (default: server_ip of use_family): one HTTP request with curl, then a socat connection to the
# hold port that the server keeps open for 1 s; while it is open, the sockets of SOCKETS_NS go
# to RUNDIR/sockets.txt. What the client printed goes to RUNDIR/client.txt (and the screen).
# With lab_client_proxy set, the client is configured with that explicit proxy: curl --proxy for
# the request, and curl's telnet:// through it for the held connection (socat speaks no SOCKS5).
send_lab_traffic() {
    local rundir=$1 sockets_ns=$2 dest=${3:-$server_ip} host hold_pid rc=0 socat_addr=TCP4
    local proxy_opt=(--noproxy '*')
    host=$(url_host "$dest")
    [[ "$dest" == *:* ]] && socat_addr=TCP6
    [[ -n "$lab_client_proxy" ]] && proxy_opt=(--proxy "$lab_client_proxy")
    : >"$rundir/client.txt"
    run "$ns_client" curl "${proxy_opt[@]}" -sS --max-time $((LAB_HOLD + 4)) \
        -w 'curl: connected to %{remote_ip}:%{remote_port}\n' "http://$host:$lab_http_port/" \
        >>"$rundir/client.txt" 2>&1 || true
    if [[ -n "$lab_client_proxy" ]]; then
        start_bg "$ns_client" "$rundir/hold.out" curl "${proxy_opt[@]}" -sS --max-time $((LAB_HOLD + 4)) \
            "telnet://$host:$lab_hold_port"
    else
        start_bg "$ns_client" "$rundir/hold.out" socat -u "$socat_addr:$host:$lab_hold_port,connect-timeout=3" STDOUT
    fi
    hold_pid=$bg_pid
    busywait $((LAB_HOLD + 2)) lab_held_or_gone "$ns_server" "$lab_hold_port" "$hold_pid" || true
    if ! lab_established "$ns_server" "$lab_hold_port"; then
        log "(the held connection did not reach the server)"
    fi
    record_sockets "$sockets_ns" "$rundir"
    wait_bg "$hold_pid" $((LAB_HOLD + 4)) || rc=$?
    cat "$rundir/hold.out" >>"$rundir/client.txt"
    printf 'socat: exit status %s\n' "$rc" >>"$rundir/client.txt"
    rm -f "$rundir/hold.out"
    lab_indent "$rundir/client.txt"
}

# wait_events_closed FILE N: wait until the proxy's events FILE has N "closed" events.
lab_events_closed() {
    local n
    n=$(grep -c '"event":"closed"' "$1" 2>/dev/null || true)
    ((${n:-0} >= $2))
}
wait_events_closed() {
    busywait "$LAB_WAIT" lab_events_closed "$1" "$2"
}

# teardown_ns NS...: stop everything in the namespaces and delete them now (not at exit), so
# the next run starts from nothing. Jobs started with start_bg in them end with them.
teardown_ns() {
    local ns i
    for ns in "$@"; do
        if lab_ns_exists "$ns"; then
            lab_undo_rules "$ns"
            lab_ns_kill_all "$ns"
            lab_on "$ns" ip netns del "$ns" 2>/dev/null || true
        fi
        for i in "${!lab_ns_list[@]}"; do
            [[ "${lab_ns_list[$i]}" == "$ns" ]] && unset 'lab_ns_list[i]'
        done
    done
    for i in "${!lab_pids[@]}"; do
        if lab_pid_gone "${lab_pids[$i]}"; then
            wait "${lab_pids[$i]}" 2>/dev/null || true
            unset 'lab_pids[i]'
        fi
    done
}

#### One run, start to end ######################################################

# A lab's runs: begin_run, the lab's own rules and start_proxy, run_traffic, end_run. Then
# run_report (on run_dirs), and the checks (check_report, check_path, check_*_interception).

declare -A run_fact=()   # "RUNDIR,name": addresses read back from the kernels during a run
run_dirs=()              # the runs end_run finished, in order

# fresh_rundir RUNDIR: an empty RUNDIR (a relative name in the work directory): a second run
# with the same --out must not append to the first one's events or logs.
fresh_rundir() {
    [[ -n "$1" && "$1" != /* && "$1" != *..* ]] || die "fresh_rundir: $1 is not a run directory name"
    rm -rf -- "$1"
    mkdir -p -- "$1"
}

# begin_run RUNDIR FAMILY [proxy-box]: fresh namespaces (the standard topology, and the proxy box
# if asked), the servers, the capture points (standard_points), and the family's names (use_family).
begin_run() {
    local rundir=$1 family=$2 extra=${3:-}
    fresh_rundir "$rundir"
    use_family "$family"
    build_topology
    start_lab_servers "$ns_server" "$rundir"
    if [[ "$extra" == proxy-box ]]; then
        add_proxy_box
    fi
    standard_points
}

# run_traffic RUNDIR: the run's traffic under capture (capture_traffic, with the sockets of the
# namespace tplab proxy runs in, else the gateway's), then the gateway's conntrack table and
# rules (record_gateway_state) and, with the proxy box, the box's rules and conntrack table too
# (RUNDIR/rules.txt, RUNDIR/conntrack-proxy.txt).
run_traffic() {
    local rundir=$1
    capture_traffic "$rundir" "${proxy_ns:-$ns_gw}"
    record_gateway_state "$ns_gw" "$rundir"
    if lab_has_proxy_box; then
        record_rules "$ns_proxy" "$rundir"
        record_conntrack "$ns_proxy" "$rundir/conntrack-proxy.txt"
    fi
}

# show_client_conntrack RUNDIR: the gateway's conntrack entries for the client's connections
# (from RUNDIR/conntrack.txt), where a NAT rule's mapping can be read.
show_client_conntrack() {
    log "the gateway's conntrack entries for the client's connections (ORIGINAL tuple, then REPLY tuple):"
    grep -F "src=$client_ip " "$1/conntrack.txt" | lab_indent || true
}

# end_run RUNDIR LAB MODE TITLE: the end of a run: stop the proxy (a check), write RUNDIR/meta.json
# (titled "TITLE, IPv4" or IPv6), read the kernels' facts for the checks (read_run_facts), add
# RUNDIR to run_dirs, pause_here, and delete the namespaces, so the next run starts from nothing.
end_run() {
    local rundir=$1 lab=$2 mode=$3 title=$4 lanes=client,gateway,server
    if lab_has_proxy_box; then
        lanes=client,gateway,proxy,server
    fi
    stop_proxy "$rundir"
    write_meta "$rundir" "$lab" "$mode" "$title, $fam_name" "$fam" "$lanes"
    read_run_facts "$rundir"
    run_dirs+=("$rundir")
    pause_here
    teardown_ns "${lab_ns_list[@]}"
}

# capture_traffic RUNDIR SOCKETS_NS: captures on lab_points around send_lab_traffic; if the run
# has a proxy (RUNDIR/events.jsonl), waits until it reports both connections closed.
capture_traffic() {
    local rundir=$1 sockets_ns=$2
    start_capture "$rundir"
    send_lab_traffic "$rundir" "$sockets_ns"
    if [[ -f "$rundir/events.jsonl" ]]; then
        wait_events_closed "$rundir/events.jsonl" 2 || log "(the proxy did not report both connections closed)"
    fi
    stop_capture
    show_capture_table "$rundir"
}

# start_proxy NS RUNDIR MODE LISTEN... [-- OPTION...]: tplab proxy in NS with its events in
# RUNDIR/events.jsonl and its log in RUNDIR/proxy.log; waits until it listens (on the port of the
# first LISTEN). OPTIONs after `--` go to tplab proxy as they are (--spoof-source, --mark 2, --udp).
# Sets proxy_pid and proxy_ns.
start_proxy() {
    local ns=$1 rundir=$2 mode=$3 args=() port
    shift 3
    port=${1##*:}
    while (($# > 0)) && [[ "$1" != -- ]]; do
        args+=(--listen "$1")
        shift
    done
    (($# > 0)) && shift
    args+=("$@")
    start_bg "$ns" "$rundir/proxy.log" tplab proxy --mode "$mode" "${args[@]}" --events "$rundir/events.jsonl"
    proxy_pid=$bg_pid
    proxy_ns=$ns
    wait_listening "$ns" "$port" || { cat "$rundir/proxy.log" >&2; die "tplab proxy ($mode) is not listening on $port"; }
}

# stop_proxy RUNDIR: stop the proxy with SIGTERM (it drains, writes a stats event, exits 0).
stop_proxy() {
    local rundir=$1 rc=0
    [[ -n "${proxy_pid:-}" ]] || return 0
    stop_bg "$proxy_pid" TERM || rc=$?
    proxy_pid="" proxy_ns=""
    check_eq "$rundir: tplab proxy exited cleanly on SIGTERM" "$rc" 0
}
