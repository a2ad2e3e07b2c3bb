#!/usr/bin/env bash
#
#   client (eth0) --------- (veth-c) gateway (veth-s) --------- (eth0) server
#   192.0.2.2                the arm under test                 198.51.100.2
#   iperf3 -c, wrk,          direct: forwards only              iperf3 -s, nginx (:80),
#   sockperf pp, idle        tplab / HAProxy: intercepts        sockperf sr, idle
#   client                   ports 5201,80,11111,7000           server (:7000)
#
# Measures transparent-proxy arms against plain forwarding and against HAProxy, interleaved
# (every arm once per round, the same order each round) in one run on one topology, so the
# ratios mean something on a busy machine. Medians over the rounds. See docs/performance.md.
#
# Usage: sudo bench/run.sh [OPTIONS]
#   --rounds N         rounds (default 3)
#   --duration S       seconds per arm per metric (default 5)
#   --arms a,b,...     direct, tplab-redirect, tplab-tproxy, tplab-tproxy-spoof, haproxy-tproxy,
#                      haproxy-redirect, tplab-anyip, tplab-sk-lookup (default: the first five)
#   --metrics m,...    tput1, tput8, connrate, latency, idle (default: all; tput1/tput8 also
#                      give the proxy's CPU seconds per GB)
#   --idle-conns N     idle connections to hold (default 9000)
#   --out DIR          output directory (default ./bench-output/<UTC timestamp>)
#   --proxy-args ARGS  extra arguments for tplab proxy (also TPLAB_PROXY_ARGS), e.g. --workers 2
#   --evidence         with connrate: the gateway's conntrack -S/-C and TIME_WAIT entries, nstat
#                      in every namespace and SYN retransmissions on the client's link, per run
#   --gw-sysctl K=V    set a sysctl in the gateway for every arm (repeat), e.g.
#                      net.netfilter.nf_conntrack_tcp_timeout_time_wait=1
#   --notrack-upstream in redirect arms, the proxy's upstream leg skips conntrack in the
#                      gateway (raw: OUTPUT mark 2 and PREROUTING from veth-s, CT --notrack)
#   --perf             in the last round, perf record -a -g during tput1, tput8 and connrate:
#                      perf-ARM-METRIC.txt, the CPU by command and object, the proxy's top symbols
#   --smoke            1 round, 2 s, 500 idle connections: checks the harness, not the speed
# Writes samples.jsonl, results.json (samples, medians, ratios), table.md and chart.svg.
# Exit: 0 done, 2 bad usage or a missing package. Performance is never judged here.
set -euo pipefail

bench_dir=$(dirname "$(readlink -f "$0")")
bench_argv="$*"
all_arms=(direct tplab-redirect tplab-tproxy tplab-tproxy-spoof haproxy-tproxy haproxy-redirect tplab-anyip tplab-sk-lookup)
all_metrics=(tput1 tput8 connrate latency idle)
rounds=3 duration=5 idle_conns=9000 out_dir=""
arms_csv=direct,tplab-redirect,tplab-tproxy,tplab-tproxy-spoof,haproxy-tproxy
metrics_csv=$(IFS=,; echo "${all_metrics[*]}")
proxy_args=${TPLAB_PROXY_ARGS:-}
rounds_set=0 duration_set=0 idle_set=0 bench_evidence=0 bench_perf=0 bench_notrack_upstream=0 gw_sysctls=()

usage_error() {
    printf 'bench/run.sh: %s (see --help)\n' "$*" >&2
    exit 2
}

need_value() {
    (($2 >= 2)) || usage_error "$1 needs a value"
}

while (($# > 0)); do
    case "$1" in
    --rounds) need_value "$1" $#; rounds=$2; rounds_set=1; shift ;;
    --duration) need_value "$1" $#; duration=$2; duration_set=1; shift ;;
    --arms) need_value "$1" $#; arms_csv=$2; shift ;;
    --metrics) need_value "$1" $#; metrics_csv=$2; shift ;;
    --idle-conns) need_value "$1" $#; idle_conns=$2; idle_set=1; shift ;;
    --out) need_value "$1" $#; out_dir=$2; shift ;;
    --evidence) bench_evidence=1 ;;
    --perf) bench_perf=1 ;;
    --notrack-upstream) bench_notrack_upstream=1 ;;
    --gw-sysctl)
        need_value "$1" $#
        [[ "$2" =~ ^[a-z0-9_.]+=[^[:space:]]+$ ]] || usage_error "--gw-sysctl needs KEY=VALUE, got '$2'"
        gw_sysctls+=("$2")
        shift
        ;;
    --proxy-args) need_value "$1" $#; proxy_args=$2; shift ;;
    --smoke)
        ((rounds_set)) || rounds=1
        ((duration_set)) || duration=2
        ((idle_set)) || idle_conns=500
        smoke=1
        ;;
    -h | --help)
        sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
        exit 0
        ;;
    *) usage_error "unknown argument '$1'" ;;
    esac
    shift
done
: "${smoke:=0}"
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || usage_error "--rounds needs a whole number >= 1, got '$rounds'"
[[ "$duration" =~ ^[1-9][0-9]*$ ]] || usage_error "--duration needs whole seconds >= 1, got '$duration'"
if ! [[ "$idle_conns" =~ ^[1-9][0-9]*$ ]] || ((idle_conns > 9500)); then
    usage_error "--idle-conns needs 1..9500 (each side holds one fd per connection, the hard limit is $(ulimit -Hn)), got '$idle_conns'"
fi
IFS=, read -r -a arms <<<"$arms_csv"
IFS=, read -r -a metrics <<<"$metrics_csv"
((${#arms[@]} > 0)) || usage_error "--arms is empty"
((${#metrics[@]} > 0)) || usage_error "--metrics is empty"
for arm in "${arms[@]}"; do
    [[ " ${all_arms[*]} " == *" $arm "* ]] || usage_error "unknown arm '$arm' (known: ${all_arms[*]})"
done
for metric in "${metrics[@]}"; do
    [[ " ${all_metrics[*]} " == *" $metric "* ]] || usage_error "unknown metric '$metric' (known: ${all_metrics[*]})"
done

want_metric() { [[ " ${metrics[*]} " == *" $1 "* ]]; }
want_arm() { [[ " ${arms[*]} " == *" $1 "* ]]; }

# The install check: every tool the chosen arms and metrics need, one line naming the packages.
check_tools() {
    local tools=(ip iptables python3 timeout) missing=() packages=() tool package
    if want_metric tput1 || want_metric tput8; then tools+=(iperf3); fi
    if want_metric connrate; then tools+=(wrk nginx); fi
    if want_metric latency; then tools+=(sockperf); fi
    if want_arm haproxy-tproxy || want_arm haproxy-redirect; then tools+=(haproxy); fi
    if want_arm tplab-redirect || want_arm haproxy-redirect || ((bench_evidence)); then tools+=(conntrack); fi
    if ((bench_evidence)); then tools+=(nstat tcpdump); fi
    if ((bench_perf)); then tools+=(perf); fi
    for tool in "${tools[@]}"; do
        command -v "$tool" >/dev/null 2>&1 && continue
        missing+=("$tool")
        case "$tool" in
        ip | nstat) package=iproute2 ;; timeout) package=coreutils ;; nginx) package=nginx-light ;;
        perf) package=linux-perf ;;
        *) package=$tool ;;
        esac
        packages+=("$package")
    done
    if ((${#missing[@]} > 0)); then
        printf 'bench/run.sh: missing %s (Debian: apt-get install %s; scripts/install-deps.sh has them all)\n' \
            "${missing[*]}" "${packages[*]}" >&2
        exit 2
    fi
}
check_tools
((EUID == 0)) || usage_error "needs root (network namespaces, iptables): run it with sudo"

: "${LAB_PREFIX:=tpb$$}"   # unique namespaces: tpbPID-client, -gw, -server
: "${LAB_TIMEOUT:=7200}"   # background jobs live as long as the run
[[ -n "$out_dir" ]] || out_dir=bench-output/$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p "$out_dir"
out_dir=$(readlink -f "$out_dir")
LAB_OUTPUT=$out_dir/logs
# shellcheck source=labs/lib.sh
source "$bench_dir/../labs/lib.sh"
# shellcheck source=bench/lib.sh
source "$bench_dir/lib.sh"

use_tplab
tplab_has_workers=0
if tplab proxy --help 2>/dev/null | grep -q -- '--workers'; then tplab_has_workers=1; fi
read -r -a proxy_extra <<<"$proxy_args"
init_workdir
log "output: $out_dir"
log "arms: ${arms[*]}; metrics: ${metrics[*]}; rounds: $rounds; ${duration} s per arm per metric"
log "gateway sysctls for every arm: ${gw_sysctls[*]:-(none)}; notrack upstream: $bench_notrack_upstream"
log "tplab proxy extra arguments: ${proxy_extra[*]:-(none)}; it has --workers: $tplab_has_workers"
bench_write_meta
build_topology >/dev/null
bench_start_servers

for ((round = 1; round <= rounds; round++)); do
    for arm in "${arms[@]}"; do
        section "round $round/$rounds: $arm"
        bench_arm_up "$arm"
        want_metric tput1 && bench_throughput "$round" "$arm" 1 tput1_gbps
        want_metric tput8 && bench_throughput "$round" "$arm" 8 tput8_gbps
        if want_metric tput1 || want_metric tput8; then bench_record_cpu "$round" "$arm"; fi
        want_metric connrate && bench_connrate "$round" "$arm"
        want_metric latency && bench_latency "$round" "$arm"
        want_metric idle && bench_idle "$round" "$arm"
        bench_arm_down "$arm"
    done
done

section "results: $out_dir"
"$lab_py" "$bench_dir/summarize.py" "$out_dir"
log "written: $out_dir/results.json, table.md, chart.svg (logs in $out_dir/logs)"
