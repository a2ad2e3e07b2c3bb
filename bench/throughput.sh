#!/usr/bin/env bash
#
#   client (eth0) ---- (veth-c) gateway (veth-s) ---- (eth0) server
#   iperf3 -c          the path under test             iperf3 -s
#
# Throughput of one TCP stream through each path, measured in the same run so the ratios mean
# something: the gateway forwarding (no proxy, the baseline), tplab in redirect mode, tplab in
# tproxy mode, and HAProxy in TPROXY mode with splice (the well-known reference). Each path gets
# the same iperf3 run (--time seconds, default 5); the result is printed as a table of Gbit/s
# and the ratio to the baseline, and written as JSON. Numbers depend on the machine: compare
# ratios, not absolutes. Usage: bench/throughput.sh [--time S] [--json FILE]
set -euo pipefail

: "${LAB_PREFIX:=tplbench}"
seconds=5
json_out=""
while [[ $# -gt 0 ]]; do
    case "$1" in
        --time) seconds=$2; shift 2 ;;
        --json) json_out=$(readlink -f "$2"); shift 2 ;;
        -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "throughput.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 ]] || { echo "throughput.sh: --time needs whole seconds >= 1" >&2; exit 2; }

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "$0")")/../labs/lib.sh"
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

require_root
require_tool iperf3 haproxy python3
use_tplab
init_workdir
build_topology

start_bg "$ns_server" iperf3-server.log iperf3 -s
wait_listening "$ns_server" 5201

measure() {  # prints Gbit/s received by the server for one stream
    ns_exec "$ns_client" iperf3 -c "$server_ip4" -t "$seconds" -J >iperf3.json
    python3 -c 'import json; print("%.2f" % (json.load(open("iperf3.json"))["end"]["sum_received"]["bits_per_second"] / 1e9))'
}

rules() {  # rules MODE PORT apply|remove
    ns_exec "$ns_gw" tplab rules --mode "$1" --port "$2" --in-interface veth-c --dport 5201 --ipv4 "--$3" >/dev/null
}

declare -A result
section "direct: the gateway only forwards"
result[direct]=$(measure)

for mode in redirect tproxy; do
    section "tplab proxy --mode $mode"
    rules "$mode" 15001 apply
    start_bg "$ns_gw" "tplab-$mode.log" tplab proxy --mode "$mode" --listen 0.0.0.0:15001
    proxy_pid=$bg_pid
    wait_listening "$ns_gw" 15001
    result["tplab $mode"]=$(measure)
    stop_bg "$proxy_pid" || true
    rules "$mode" 15001 remove
done

section "HAProxy, TPROXY mode, option splice-auto"
cat >haproxy.cfg <<'CFG'
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
listen transparent
    bind 0.0.0.0:15003 transparent
    option splice-auto
    server original 0.0.0.0:0
CFG
rules tproxy 15003 apply
start_bg "$ns_gw" haproxy.log haproxy -db -f haproxy.cfg
haproxy_pid=$bg_pid
wait_listening "$ns_gw" 15003
result[haproxy tproxy]=$(measure)
stop_bg "$haproxy_pid" || true
rules tproxy 15003 remove

section "one TCP stream, $seconds s each, same run"
printf '  %-16s %10s %8s\n' path Gbit/s ratio
for path in direct "tplab redirect" "tplab tproxy" "haproxy tproxy"; do
    ratio=$(python3 -c "print('%.2f' % (${result[$path]} / ${result[direct]}))")
    printf '  %-16s %10s %8s\n' "$path" "${result[$path]}" "$ratio"
done
if [[ -n "$json_out" ]]; then
    python3 - "$json_out" "$seconds" "${result[direct]}" "${result[tplab redirect]}" \
        "${result[tplab tproxy]}" "${result[haproxy tproxy]}" <<'PY'
import json, sys
out, seconds, *gbps = sys.argv[1:]
paths = ["direct", "tplab redirect", "tplab tproxy", "haproxy tproxy"]
json.dump({"seconds": int(seconds), "streams": 1,
           "gbit_per_s": dict(zip(paths, map(float, gbps))),
           "ratio_to_direct": {p: float(g) / float(gbps[0]) for p, g in zip(paths, gbps)}},
          open(out, "w"), indent=2)
PY
    log "written: $json_out"
fi
