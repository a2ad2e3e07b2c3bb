# shellcheck shell=bash
# bench/run.sh's arms (what the gateway runs) and metrics (what the client measures), on top of
# labs/lib.sh's topology, jobs and cleanup. Each metric appends one JSON line per sample to
# samples.jsonl; bench/summarize.py turns them into medians and ratios.

readonly bench_iperf_port=5201 bench_http_port=80 bench_sockperf_port=11111 bench_idle_port=7000
readonly bench_ports="$bench_iperf_port,$bench_http_port,$bench_sockperf_port,$bench_idle_port"
readonly bench_proxy_mark=2 # the proxies' SO_MARK (tplab proxy --mark, tplab rules --mark)
bench_cpu_ticks=0 bench_cpu_bytes=0 bench_machine_ticks=0
bench_clk_tck=$(getconf CLK_TCK)

# bench_sample ROUND ARM METRIC VALUE [,"key":value...]: one sample line in samples.jsonl.
bench_sample() {
    printf '{"round":%d,"arm":"%s","metric":"%s","value":%s%s}\n' "$1" "$2" "$3" "$4" "${5:-}" \
        >>"$out_dir/samples.jsonl"
    printf '  %-18s %s\n' "$3" "$4"
}

bench_write_meta() {
    local cpu
    cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
    "$lab_py" - "$out_dir/meta.json" <<EOF
import json, sys
json.dump({"rounds": $rounds, "duration": $duration, "idle_conns": $idle_conns, "smoke": bool($smoke),
           "arms": "${arms[*]}".split(), "metrics": "${metrics[*]}".split(),
           "started_utc": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "nproc": $(nproc),
           "kernel": "$(uname -r)", "loadavg_start": "$(cut -d' ' -f1-3 /proc/loadavg)", "cpu_model": """$cpu""",
           "fd_hard_limit": "$(ulimit -Hn)", "tplab": "$(command -v tplab)",
           "tplab_proxy_args": "${proxy_extra[*]}", "gw_sysctls": "${gw_sysctls[*]}".split(), "tplab_has_workers": bool($tplab_has_workers),
           "haproxy": "$(haproxy -v 2>/dev/null | head -1)",
           "command": """$0 ${bench_argv:-}"""}, open(sys.argv[1], "w"), indent=2)
EOF
    : >"$out_dir/samples.jsonl"
}

#### Servers (in the server namespace, for the whole run) ######################

bench_start_servers() {
    if want_metric tput1 || want_metric tput8; then
        start_bg "$ns_server" iperf3-server.log iperf3 -s -B "$server_ip4" -p "$bench_iperf_port"
        wait_listening "$ns_server" "$bench_iperf_port" || die "iperf3 -s did not listen"
    fi
    if want_metric connrate; then
        bench_nginx_config
        start_bg "$ns_server" nginx.log nginx -p "$lab_work/nginx" -c "$lab_work/nginx/nginx.conf" \
            -e "$lab_work/nginx/error.log"
        wait_listening "$ns_server" "$bench_http_port" || { cat nginx.log nginx/error.log >&2; die "nginx did not listen"; }
    fi
    if want_metric latency; then
        start_bg "$ns_server" sockperf-server.log sockperf sr --tcp -i "$server_ip4" -p "$bench_sockperf_port"
        wait_listening "$ns_server" "$bench_sockperf_port" || die "sockperf sr did not listen"
    fi
    if want_metric idle; then
        start_bg "$ns_server" idle-server.log "$lab_py" "$bench_dir/idle_conns.py" server "$server_ip4" "$bench_idle_port"
        wait_listening "$ns_server" "$bench_idle_port" || die "the idle server did not listen"
    fi
}

# nginx in the foreground with its own prefix: one small static file, no keepalive, no logs.
bench_nginx_config() {
    mkdir -p nginx/www nginx/tmp
    printf 'served by nginx in the bench server namespace\n' >nginx/www/index.html
    cat >nginx/nginx.conf <<EOF
user root;
daemon off;
worker_processes auto;
pid $lab_work/nginx/nginx.pid;
error_log $lab_work/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_timeout 0;
    client_body_temp_path $lab_work/nginx/tmp;
    server {
        listen $server_ip4:$bench_http_port backlog=4096 reuseport;
        root $lab_work/nginx/www;
    }
}
EOF
}

#### Arms #########################################################################

# bench_rules MODE PORT [ARG...]: tplab rules --apply in the gateway, only for the bench's ports
# arriving from the client; recorded so cleanup removes them on every exit path.
bench_rules() {
    local mode=$1 port=$2
    shift 2
    local args=(--mode "$mode")
    # AnyIP and sk-lookup rewrite no port: nothing to name.
    [[ "$mode" == anyip || "$mode" == sk-lookup ]] || args+=(--port "$port")
    args+=(--in-interface veth-c --dport "$bench_ports" --ipv4 --mark "$bench_proxy_mark" "$@")
    lab_applied_rules+=("$ns_gw ${args[*]}")
    show_cmd "$ns_gw" "" tplab rules "${args[@]}" --apply
    ns_exec "$ns_gw" tplab rules "${args[@]}" --apply >>rules.log 2>&1 || { cat rules.log >&2; die "tplab rules failed"; }
}

# bench_tplab_proxy MODE PORT [ARG...]: tplab proxy listening on 0.0.0.0:PORT; PORT "each"
# (AnyIP) listens on every bench port instead.
bench_tplab_proxy() {
    local mode=$1 port=$2 listen=() each
    shift 2
    if [[ "$port" == each ]]; then
        for each in ${bench_ports//,/ }; do
            listen+=(--listen "0.0.0.0:$each")
        done
        port=$bench_http_port
    else
        listen=(--listen "0.0.0.0:$port")
    fi
    start_bg "$ns_gw" "proxy-$arm.log" tplab proxy --mode "$mode" "${listen[@]}" \
        --mark "$bench_proxy_mark" --max-connections $((idle_conns + 500)) \
        --max-connections-per-client $((idle_conns + 500)) "$@" "${proxy_extra[@]}"
    bench_proxy_job=$bg_pid
    wait_listening "$ns_gw" "$port" || { cat "proxy-$arm.log" >&2; die "tplab proxy ($arm) did not listen"; }
}

# HAProxy 2.6 refuses to start when maxconn needs more fds than the hard limit: about
# 2 x maxconn + 2 x maxpipes. maxconn covers the idle connections; maxpipes (default maxconn/4)
# is capped at 500, far more than the 8 streams that splice at once.
bench_haproxy() {
    local port=$1 bind_opt=$2 maxconn=$((idle_conns + 100))
    local maxpipes=$((maxconn / 4 < 500 ? maxconn / 4 : 500))
    cat >"haproxy-$arm.cfg" <<EOF
global
    maxconn $maxconn
    maxpipes $maxpipes
defaults
    mode tcp
    maxconn $maxconn
    timeout connect 5s
    timeout client 300s
    timeout server 300s
listen transparent
    bind 0.0.0.0:$port $bind_opt
    option splice-auto
    server original 0.0.0.0:0
EOF
    start_bg "$ns_gw" "proxy-$arm.log" haproxy -db -f "haproxy-$arm.cfg"
    bench_proxy_job=$bg_pid
    wait_listening "$ns_gw" "$port" || { cat "proxy-$arm.log" >&2; die "haproxy ($arm) did not listen"; }
}

bench_arm_up() {
    bench_proxy_job=""
    case "$1" in
    direct) ;;
    tplab-redirect) bench_rules redirect 15001 && bench_tplab_proxy redirect 15001 ;;
    tplab-tproxy) bench_rules tproxy 15002 && bench_tplab_proxy tproxy 15002 ;;
    tplab-tproxy-spoof) bench_rules tproxy 15002 --spoof-source && bench_tplab_proxy tproxy 15002 --spoof-source ;;
    haproxy-tproxy) bench_rules tproxy 15003 && bench_haproxy 15003 transparent ;;
    haproxy-redirect) bench_rules redirect 15004 && bench_haproxy 15004 "" ;;
    tplab-anyip) bench_rules anyip each && bench_tplab_proxy tproxy each ;;
    tplab-sk-lookup) bench_rules sk-lookup 15005 && bench_tplab_proxy sk-lookup 15005 --dport "$bench_ports" ;;
    esac
    bench_cpu_ticks=0 bench_cpu_bytes=0 bench_machine_ticks=0
    # after the rules: a conntrack sysctl exists in a namespace only once conntrack is in use there
    local setting
    for setting in "${gw_sysctls[@]}"; do
        ns_exec "$ns_gw" sysctl -qw "$setting" 2>/dev/null || log "  (gateway: cannot set $setting in this arm)"
    done
    if ((bench_notrack_upstream)) && [[ "$1" == *-redirect ]]; then
        bench_notrack_upstream_leg
    fi
}

# bench_notrack_upstream_leg: with --notrack-upstream in a redirect arm, the proxy's own
# connections to the server (SO_MARK 2 on the way out, everything arriving from the server's
# side on the way back) skip conntrack in the gateway; the client's leg still needs it for NAT.
bench_notrack_upstream_leg() {
    ns_exec "$ns_gw" iptables -t raw -A OUTPUT -m mark --mark "$bench_proxy_mark" -j CT --notrack
    ns_exec "$ns_gw" iptables -t raw -A PREROUTING -i veth-s -j CT --notrack
}

# bench_arm_down ARM: stop the proxy, remove the rules, and give the next arm a clean slate:
# flush the gateway's conntrack table and destroy the TIME_WAIT sockets of all three namespaces.
# Surprise: without this, `direct` right after `haproxy-tproxy` fell to 14 conn/s with 200 SYN
# retransmissions at the client; the proxy's TIME_WAIT sockets for the same intercepted tuples
# (local server:80, remote client:port) outlive it by 60 s, the likely cause.
bench_arm_down() {
    local ns
    if [[ -n "$bench_proxy_job" ]]; then
        stop_bg "$bench_proxy_job" || true
    fi
    lab_undo_rules "$ns_gw"
    if ((bench_notrack_upstream)); then
        ns_exec "$ns_gw" iptables -t raw -F OUTPUT >/dev/null 2>&1 || true
        ns_exec "$ns_gw" iptables -t raw -F PREROUTING >/dev/null 2>&1 || true
    fi
    ns_exec "$ns_gw" conntrack -F >/dev/null 2>&1 || true
    for ns in "$ns_client" "$ns_gw" "$ns_server"; do
        ns_exec "$ns" ss -K state time-wait >/dev/null 2>&1 || true
    done
}

# bench_proxy_pids: the proxy's processes in the gateway (not the timeout wrapping them).
bench_proxy_pids() {
    local pid comm
    for pid in $(ip netns pids "$ns_gw" 2>/dev/null); do
        comm=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
        [[ "$comm" == tplab* || "$comm" == haproxy* ]] && printf '%s\n' "$pid"
    done
    return 0
}

# bench_cpu_now: utime + stime (clock ticks, all threads) of the proxy's processes.
bench_cpu_now() {
    local pid total=0 fields
    for pid in $(bench_proxy_pids); do
        fields=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null) || continue
        # after "pid (comm) ", utime and stime are the 12th and 13th fields
        total=$((total + $(awk '{print $12 + $13}' <<<"$fields")))
    done
    printf '%s\n' "$total"
}

# bench_rss_kib: VmRSS (KiB) summed over the proxy's processes.
bench_rss_kib() {
    local pid total=0 kib
    for pid in $(bench_proxy_pids); do
        kib=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
        total=$((total + ${kib:-0}))
    done
    printf '%s\n' "$total"
}

# bench_machine_now: "BUSY TOTAL" clock ticks of the whole machine, all CPUs (/proc/stat): busy
# is user + nice + system + irq + softirq, everything that ran (client, server, forwarding, the
# proxy, and any other load on the machine); total adds idle, iowait and steal.
bench_machine_now() {
    awk '/^cpu / {busy = $2 + $3 + $4 + $7 + $8; print busy, busy + $5 + $6 + $9; exit}' /proc/stat
}

# bench_busy_cores BUSY0 TOTAL0 BUSY1 TOTAL1: how many of the machine's CPUs were busy, on average.
bench_busy_cores() {
    "$lab_py" -c "print('%.2f' % (($3 - $1) / max($4 - $2, 1) * $(nproc)))"
}

# bench_perf_begin NAME: with --perf, in the last round, samples every CPU (call graphs) while
# the metric runs; bench_perf_end writes perf-NAME.txt (share of CPU per command and object, and
# the top kernel and user symbols of the proxy) and removes the raw data.
bench_perf_begin() {
    bench_perf_pid=""
    ((bench_perf && round == rounds)) || return 0
    perf record -a -g -F 499 -o "$out_dir/perf-$1.data" >/dev/null 2>&1 &
    bench_perf_pid=$!
}

bench_perf_end() {
    [[ -n "${bench_perf_pid:-}" ]] || return 0
    kill -INT "$bench_perf_pid" 2>/dev/null || true
    wait "$bench_perf_pid" 2>/dev/null || true
    local data=$out_dir/perf-$1.data
    local comms
    comms=$(bench_proxy_comms)
    {
        echo "## CPU by command and object (all CPUs, $1)"
        perf report -i "$data" --stdio --no-children --sort comm,dso -g none 2>/dev/null |
            grep -v -e '^#' -e '^$' | head -25 || true
        if [[ -n "$comms" ]]; then
            echo "## the proxy's symbols ($comms)"
            perf report -i "$data" --stdio --no-children --comms "$comms" --sort dso,sym -g none \
                2>/dev/null | grep -v -e '^#' -e '^$' | head -40 || true
        fi
    } >"$out_dir/perf-$1.txt"
    rm -f "$data"
}

# bench_proxy_comms: the proxy threads' command names, comma-separated, for perf --comms.
bench_proxy_comms() {
    local pid task names=()
    for pid in $(bench_proxy_pids); do
        for task in /proc/"$pid"/task/*; do
            names+=("$(cat "$task/comm" 2>/dev/null || true)")
        done
    done
    ((${#names[@]} > 0)) || return 0
    printf '%s\n' "${names[@]}" | sort -u | paste -sd, -
}

slab_kib() {
    awk '/^Slab:/ {print $2}' /proc/meminfo
}

#### Metrics ######################################################################

# bench_throughput ROUND ARM STREAMS METRIC: iperf3 client to server, Gbit/s the server received;
# the proxy's CPU ticks and the bytes moved add up for bench_record_cpu.
bench_throughput() {
    local round=$1 arm=$2 streams=$3 metric=$4 cpu0 cpu1 json=iperf3-$2-$3.json m0 m1 cores
    cpu0=$(bench_cpu_now)
    m0=$(bench_machine_now)
    bench_perf_begin "$arm-$metric"
    if ! ns_exec "$ns_client" timeout $((duration + 30)) iperf3 -c "$server_ip4" -p "$bench_iperf_port" \
        -P "$streams" -t "$duration" -J >"$json" 2>&1; then
        tail -5 "$json" >&2
        die "iperf3 ($arm, $streams streams) failed"
    fi
    cpu1=$(bench_cpu_now)
    m1=$(bench_machine_now)
    bench_perf_end "$arm-$metric"
    # shellcheck disable=SC2086 # "BUSY TOTAL" pairs
    cores=$(bench_busy_cores $m0 $m1)
    read -r gbps bytes < <("$lab_py" -c '
import json, sys
s = json.load(open(sys.argv[1]))["end"]["sum_received"]
print("%.3f %d" % (s["bits_per_second"] / 1e9, s["bytes"]))' "$json")
    bench_cpu_ticks=$((bench_cpu_ticks + cpu1 - cpu0))
    bench_cpu_bytes=$((bench_cpu_bytes + bytes))
    bench_machine_ticks=$((bench_machine_ticks + ${m1%% *} - ${m0%% *}))
    bench_sample "$round" "$arm" "$metric" "$gbps" ",\"bytes\":$bytes,\"proxy_cpu_ticks\":$((cpu1 - cpu0))"
    bench_sample "$round" "$arm" "${metric%_gbps}_busy_cores" "$cores"
}

# bench_record_cpu ROUND ARM: the proxy's CPU seconds per GB over this arm's throughput tests
# (0 for direct: there is no proxy process; the kernel's forwarding is not counted).
bench_record_cpu() {
    local value
    value=$("$lab_py" -c "print('%.4f' % (($bench_cpu_ticks / $bench_clk_tck) / ($bench_cpu_bytes / 1e9) if $bench_cpu_bytes else 0))")
    bench_sample "$1" "$2" cpu_s_per_gb "$value" \
        ",\"cpu_seconds\":$("$lab_py" -c "print($bench_cpu_ticks / $bench_clk_tck)"),\"bytes\":$bench_cpu_bytes"
    value=$("$lab_py" -c "print('%.4f' % (($bench_machine_ticks / $bench_clk_tck) / ($bench_cpu_bytes / 1e9) if $bench_cpu_bytes else 0))")
    bench_sample "$1" "$2" machine_cpu_s_per_gb "$value"
}

# bench_connrate ROUND ARM: wrk, one request per connection (Connection: close) to nginx.
bench_connrate() {
    local round=$1 arm=$2 log=wrk-$2.log rate errors evidence="" m0 m1 cores busy_us
    ((bench_evidence)) && bench_evidence_begin
    m0=$(bench_machine_now)
    bench_perf_begin "$arm-connrate"
    if ! ns_exec "$ns_client" timeout $((duration + 30)) wrk -t 2 -c 32 -d "${duration}s" \
        -H 'Connection: close' "http://$server_ip4:$bench_http_port/index.html" >"$log" 2>&1; then
        cat "$log" >&2
        die "wrk ($arm) failed"
    fi
    m1=$(bench_machine_now)
    bench_perf_end "$arm-connrate"
    rate=$(awk '/^Requests\/sec:/ {print $2}' "$log")
    [[ -n "$rate" ]] || { cat "$log" >&2; die "wrk ($arm) printed no Requests/sec"; }
    # shellcheck disable=SC2086 # "BUSY TOTAL" pairs
    cores=$(bench_busy_cores $m0 $m1)
    busy_us=$("$lab_py" -c "print('%.1f' % ($cores * 1e6 / $rate if $rate else 0))")
    errors=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10} /Non-2xx/ {print $NF}' "$log" |
        awk '{s += $1} END {print s + 0}')
    ((bench_evidence)) && evidence=$(bench_evidence_end "$round" "$arm")
    bench_sample "$round" "$arm" connrate_per_s "$rate" ",\"errors\":$errors$evidence"
    bench_sample "$round" "$arm" connrate_busy_cores "$cores"
    bench_sample "$round" "$arm" connrate_machine_cpu_us "$busy_us"
    [[ -z "$evidence" ]] || printf '    evidence: %s\n' "${evidence#,\"evidence\":}"
}

# bench_latency ROUND ARM: sockperf ping-pong, 64-byte messages on one TCP connection; the
# round-trip time's p50 and p99 (us).
bench_latency() {
    local round=$1 arm=$2 log=sockperf-$2.log p50 p99
    if ! ns_exec "$ns_client" timeout $((duration + 30)) sockperf pp --tcp -i "$server_ip4" \
        -p "$bench_sockperf_port" -m 64 -t "$duration" --full-rtt >"$log" 2>&1; then
        cat "$log" >&2
        die "sockperf pp ($arm) failed"
    fi
    p50=$(awk '/percentile 50.000 =/ {print $NF}' "$log")
    p99=$(awk '/percentile 99.000 =/ {print $NF}' "$log")
    [[ -n "$p50" && -n "$p99" ]] || { cat "$log" >&2; die "sockperf pp ($arm) printed no percentiles"; }
    bench_sample "$round" "$arm" latency_p50_us "$p50"
    bench_sample "$round" "$arm" latency_p99_us "$p99"
}

# bench_idle ROUND ARM: hold idle_conns connections, each proven end to end by one byte there
# and back; the proxy's RSS and the machine's Slab before and while they are held; then one more
# byte on each proves it stayed open.
bench_idle() {
    local round=$1 arm=$2 ready=idle-$2-$1.ready release=idle-$2-$1.release log=idle-$2-$1.log
    local rss0 rss1 slab0 slab1 job result n
    rm -f "$ready" "$release"
    sleep 0.5
    rss0=$(bench_rss_kib) slab0=$(slab_kib)
    start_bg "$ns_client" "$log" "$lab_py" "$bench_dir/idle_conns.py" client "$server_ip4" \
        "$bench_idle_port" "$idle_conns" "$ready" "$release"
    job=$bg_pid
    busywait 180 lab_file_exists "$ready" || { cat "$log" >&2; die "the idle client ($arm) did not get ready"; }
    sleep 1
    rss1=$(bench_rss_kib) slab1=$(slab_kib)
    touch "$release"
    busywait 120 lab_pid_gone "$job" || true
    stop_bg "$job" || true
    result=$(grep '^{' "$log" | tail -1)
    [[ -n "$result" ]] || { cat "$log" >&2; die "the idle client ($arm) printed no result"; }
    n=$idle_conns
    bench_sample "$round" "$arm" idle_user_bytes $(((rss1 - rss0) * 1024 / n)) ",\"rss_kib\":[$rss0,$rss1]"
    bench_sample "$round" "$arm" idle_kernel_bytes $(((slab1 - slab0) * 1024 / n)) ",\"slab_kib\":[$slab0,$slab1]"
    bench_sample "$round" "$arm" idle_held "$("$lab_py" -c 'import json,sys; print(json.loads(sys.argv[1])["held"])' "$result")" \
        ",\"client\":$result"
    bench_sample "$round" "$arm" idle_errors "$("$lab_py" -c 'import json,sys; print(json.loads(sys.argv[1])["errors"])' "$result")"
}

#### Evidence for the connection rate (--evidence) ################################
# What a connection-rate run costs the kernels: the gateway's conntrack statistics and table,
# TCP counters in each namespace (nstat), and SYN retransmissions seen in a short capture on the
# client's link. Everything goes to evidence-ARM-ROUND.txt; the telling numbers into the sample.

readonly bench_nstat_counters="TcpExtTCPSynRetrans TcpRetransSegs TcpAttemptFails TcpEstabResets \
TcpOutRsts TcpExtListenOverflows TcpExtListenDrops TcpExtTCPTimeWaitOverflow TcpExtTW \
TcpExtTWRecycled TcpExtPAWSEstab TcpExtTCPChallengeACK TcpExtTCPAbortOnData TcpActiveOpens \
TcpPassiveOpens"

# bench_nstat NS: "name value" for bench_nstat_counters, absolute (no history file involved).
bench_nstat() {
    # shellcheck disable=SC2086  # one counter per word
    ip netns exec "$1" nstat -asz $bench_nstat_counters 2>/dev/null | awk 'NF >= 2 && $1 !~ /^#/ {print $1, $2}'
}

# bench_ct_stats: the gateway's conntrack -S counters summed over CPUs, "name value" per line.
bench_ct_stats() {
    ip netns exec "$ns_gw" conntrack -S 2>/dev/null | tr ' ' '\n' | awk -F= 'NF == 2 && $1 != "cpu" {s[$1] += $2}
        END {for (k in s) print k, s[k]}' | sort
}

bench_evidence_begin() {
    local ns
    bench_ev_before=()
    for ns in "$ns_client" "$ns_gw" "$ns_server"; do
        bench_ev_before+=("$(bench_nstat "$ns" | sed "s/^/${ns##*-}./")")
    done
    bench_ev_ct_before=$(bench_ct_stats)
    # SYNs without ACK on the client's link, during the first half of the run
    start_bg "$ns_client" "syn-$arm-$round.txt" timeout $((duration / 2 + 1)) tcpdump -nn -l -i eth0 \
        'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn'
    bench_ev_tcpdump=$bg_pid
}

# bench_evidence_end ROUND ARM: write the evidence file, print extra sample fields on stdout.
bench_evidence_end() {
    local round=$1 arm=$2 file=evidence-$2-$1.txt ns after=() ct_after ct_count ct_tw
    for ns in "$ns_client" "$ns_gw" "$ns_server"; do
        after+=("$(bench_nstat "$ns" | sed "s/^/${ns##*-}./")")
    done
    ct_after=$(bench_ct_stats)
    ct_count=$(ip netns exec "$ns_gw" conntrack -C 2>/dev/null || echo 0)
    ct_tw=$(ip netns exec "$ns_gw" conntrack -L 2>/dev/null | grep -c TIME_WAIT || true)
    busywait $((duration + 5)) lab_pid_gone "$bench_ev_tcpdump" || true
    stop_bg "$bench_ev_tcpdump" || true
    "$lab_py" - "$file" "syn-$arm-$round.txt" "$ct_count" "$ct_tw" <<PY
import json, sys
path, syn_file, ct_count, ct_tw = sys.argv[1:]
def table(text):
    return {k: int(v) for k, v in (line.split() for line in text.splitlines() if line.strip())}
before = table("""${bench_ev_before[*]}
""".replace(" client.", "\nclient.").replace(" gw.", "\ngw.").replace(" server.", "\nserver."))
after = table("""${after[*]}
""".replace(" client.", "\nclient.").replace(" gw.", "\ngw.").replace(" server.", "\nserver."))
ct0, ct1 = table("""$bench_ev_ct_before"""), table("""$ct_after""")
nstat = {k: after[k] - before.get(k, 0) for k in after if after[k] - before.get(k, 0)}
conntrack = {k: ct1[k] - ct0.get(k, 0) for k in ct1 if ct1[k] - ct0.get(k, 0)}
# "... IP 192.0.2.2.40000 > 198.51.100.2.80: Flags [S], seq 123, ...": a SYN sent again has
# the same source and sequence number (a reused port starts with a new one)
syns = [(w[2], w[w.index("seq") + 1]) for w in (l.replace(",", " ").split() for l in open(syn_file))
        if ">" in w and "seq" in w]
capture = {"syns": len(syns), "distinct": len(set(syns)), "retransmitted": len(syns) - len(set(syns))}
evidence = {"nstat_delta": nstat, "gw_conntrack_S_delta": conntrack,
            "gw_conntrack_C": int(ct_count or 0), "gw_conntrack_time_wait": int(ct_tw or 0),
            "client_syn_capture": capture}
with open(path, "w") as f:
    json.dump(evidence, f, indent=2)
print(',"evidence":' + json.dumps({
    "client_syn_retrans": nstat.get("client.TcpExtTCPSynRetrans", 0),
    "gw_syn_retrans": nstat.get("gw.TcpExtTCPSynRetrans", 0),
    "gw_ct_insert_failed": conntrack.get("insert_failed", 0), "gw_ct_drop": conntrack.get("drop", 0),
    "gw_ct_count": int(ct_count or 0), "gw_ct_time_wait": int(ct_tw or 0),
    "capture_syn_retransmitted": capture["retransmitted"], "capture_syns": capture["syns"]}))
PY
}
