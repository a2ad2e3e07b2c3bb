#!/bin/bash
# 01-direct: the baseline. No proxy and no rules: the gateway only routes. What does each hop see?
#
#  +-----------------+      +------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                   |      | tpl-server       |
#  |  curl :80       |      |   no proxy, no rules: it only forwards   |      |  HTTP :80        |
#  |  socat :8080    |      |   (net.ipv4.ip_forward=1,                |      |  socat :8080     |
#  |                 |      |    net.ipv6.conf.all.forwarding=1)       |      |  "served by      |
#  |                 |      |                                          |      |   server"        |
#  |       eth0 [1]  |------| [2] veth-c                    veth-s [3] |------| [4] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1                   198.51.100.1 |      | 198.51.100.2     |
#  | 2001:db8:1::2   |      | 2001:db8:1::1              2001:db8:2::1 |      | 2001:db8:2::2    |
#  +-----------------+      +------------------------------------------+      +------------------+
#   [1]..[4]: capture points (tplab capture), in path order
#
# The client asks for http://198.51.100.2/ and opens a socat connection to port 8080 that the
# server holds open for a second. The gateway forwards both, and tplab capture records every
# wire. tplab report then follows each connection from wire to wire: with nothing in the way,
# every point sees the same 5-tuple (client address and port -> server address and port), the
# server sees the client's own address, the gateway holds no socket for the connection and has
# no NAT entry for it. This is what the proxied runs (02-05) are compared with: in those, the
# server sees the gateway, and the gateway's kernel holds the proof of interception.
#
# Usage: sudo labs/01-direct.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both; each gets its own run: direct-ipv4, direct-ipv6)
#   --out DIR       keep the run directories (pcaps, snapshots) and report.txt / report.json in DIR
#                   (default: a temp dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 4 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP. Docs: docs/labs/01-direct.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

parse_lab_args "$@"
require_root
require_tool ip ss curl socat timeout python3
use_tplab
report_available || skip "this tplab has no 'report' command: rebuild it (cmake --build build)"
init_workdir
log "run directories and logs: $lab_work"
log "commands are shown as [ns] # CMD; to type one yourself: ip netns exec ${LAB_PREFIX}-<ns> CMD"

run_dirs=()
for family in "${lab_families[@]}"; do
    rundir=direct-$family
    section "direct, $family: $rundir/"
    begin_run "$rundir" "$family"
    log "(no rules and no proxy: the gateway routes between veth-c and veth-s)"
    capture_traffic "$rundir" "$ns_gw"
    record_gateway_state "$ns_gw" "$rundir"
    write_meta "$rundir" 01-direct direct "direct (no proxy), $fam_name" "$family" client,gateway,server
    read_run_facts "$rundir"
    run_dirs+=("$rundir")
    teardown_ns "$ns_client" "$ns_gw" "$ns_server"
done

section "tplab report"
run_report . "${run_dirs[@]}"

section "checks (from report.json and the kernels' own addresses)"
for rd in "${run_dirs[@]}"; do
    check_path report.json "$rd" "the client itself" "${run_fact[$rd,client]}"
    for port in "$lab_http_port" "$lab_hold_port"; do
        flow="flow(r, $port)"
        got=$(report_get report.json "$rd" "sum(x['source_changed'] or x['destination_changed'] for x in ${flow}['hops'])")
        check_eq "$rd: port $port: no point saw the source or destination change" "$got" 0
        got=$(report_get report.json "$rd" "(lambda c: c[0] if len(set(c)) == 1 else c)([x['packets'] for x in ${flow}['hops']])")
        if [[ "$got" =~ ^[0-9]+$ ]]; then
            pass "$rd: port $port: every point saw the same $got packets"
        else
            fail "$rd: port $port: the points saw different numbers of packets: $got"
        fi
    done
    got=$(report_get report.json "$rd" 'f["internals"]["nat"]["present"]')
    check_eq "$rd: the gateway has no NAT mapping for the flow" "$got" false
    got=$(report_get report.json "$rd" 'h["internals"]["socket"]')
    check_eq "$rd: the gateway holds no socket for the open connection (ss)" "${got:-none}" none
    got=$(report_get report.json "$rd" 'h["internals"]["accepted_local"]')
    check_eq "$rd: there was no proxy to accept it" "${got:-none}" none
done

log ""
log "finished in ${SECONDS}s"
lab_exit
