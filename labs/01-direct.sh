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
setup_lab ip ss curl socat timeout python3

for family in "${lab_families[@]}"; do
    rundir=direct-$family
    section "direct, $family: $rundir/"
    begin_run "$rundir" "$family"
    log "(no rules and no proxy: the gateway routes between veth-c and veth-s)"
    run_traffic "$rundir"
    end_run "$rundir" 01-direct direct "direct (no proxy)"
done

run_report "tplab report"

section "checks (from report.json and the kernels' own addresses)"
for rd in "${run_dirs[@]}"; do
    check_path "$rd" "the client itself" "${run_fact[$rd,client]}"
    for port in "$lab_http_port" "$lab_hold_port"; do
        flow="flow(r, $port)"
        check_report "$rd" "port $port: no point saw the source or destination change" \
            "sum(x['source_changed'] or x['destination_changed'] for x in ${flow}['hops'])" 0
        got=$(report_get "$rd" "(lambda c: c[0] if len(set(c)) == 1 else c)([x['packets'] for x in ${flow}['hops']])")
        if [[ "$got" =~ ^[0-9]+$ ]]; then
            pass "$rd: port $port: every point saw the same $got packets"
        else
            fail "$rd: port $port: the points saw different numbers of packets: $got"
        fi
    done
    check_report "$rd" "the gateway has no NAT mapping for the flow" 'f["internals"]["nat"]["present"]' false
    check_report "$rd" "the gateway holds no socket for the open connection (ss)" \
        'h["internals"]["socket"] or "none"' none
    check_report "$rd" "there was no proxy to accept it" 'h["internals"]["accepted_local"] or "none"' none
done

log ""
log "finished in ${SECONDS}s"
lab_exit
