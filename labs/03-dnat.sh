#!/bin/bash
# 03-dnat: the same interception as 02-redirect, written as DNAT: what is the same, and what
# DNAT can do that REDIRECT cannot (send the connection to an address of your choosing).
#
#  +-----------------+      +------------------------------------------+      +------------------+
#  | tpl-client      |      | tpl-gw                                   |      | tpl-server       |
#  |  curl :80       |      |  nat PREROUTING -i veth-c                |      |  HTTP :80        |
#  |  socat :8080    |      |    -p tcp --dports 80,8080 -j DNAT       |      |  socat :8080     |
#  |                 |      |  (A) --to-destination 192.0.2.1:15001    |      |  "served by      |
#  |                 |      |  (B) --to-destination 192.0.2.10:15001   |      |   server"        |
#  |                 |      |  tplab proxy --mode redirect             |      |                  |
#  |       eth0 [1]  |------| [2] veth-c                    veth-s [3] |------| [4] eth0         |
#  | 192.0.2.2       |      | 192.0.2.1 (B: + 192.0.2.10) 198.51.100.1 |      | 198.51.100.2     |
#  | 2001:db8:1::2   |      | 2001:db8:1::1 (B: + ::10)  2001:db8:2::1 |      | 2001:db8:2::2    |
#  +-----------------+      +------------------------------------------+      +------------------+
#   [1]..[4]: capture points (tplab capture), in path order
#
# REDIRECT is DNAT to the primary address of the incoming interface: you name only the port.
# DNAT names the address too. (A) DNAT to veth-c's own address 192.0.2.1:15001
# ([2001:db8:1::1]:15001) behaves exactly like 02-redirect: the same conntrack entry, whose
# REPLY tuple comes from 192.0.2.1:15001, the same accepted socket, the same SO_ORIGINAL_DST
# answer, and the proxy listens on [::]:15001. (B) gives veth-c a second address, 192.0.2.10
# (2001:db8:1::10), runs the proxy bound to that address only, and DNATs to it: a listener
# REDIRECT could never reach, because REDIRECT always picks the primary address. The conntrack
# REPLY tuple and the accepted socket now show 192.0.2.10:15001, and the destination still comes
# back from conntrack. Either way the target must be THIS box (see 05-remote-proxy for what goes
# wrong otherwise). Checks come from tplab report's JSON and addresses read from the kernels.
# IPv4 and IPv6 both run; four runs: dnat-ipv4, dnat-secondary-ipv4, dnat-ipv6, dnat-secondary-ipv6.
#
# Usage: sudo labs/03-dnat.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  run one family only (default: both)
#   --out DIR       keep the run directories (pcaps, snapshots, events) and report.txt / report.json
#                   in DIR (default: a temp dir, removed at the end; LAB_OUTPUT=DIR does the same)
# Takes about 10 s. Exit 0 if every check passes, 1 on a FAIL, 4 on SKIP. Docs: docs/labs/03-dnat.md.

set -euo pipefail

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

readonly second_ip4=192.0.2.10
readonly second_ip6=2001:db8:1::10

parse_lab_args "$@"
setup_lab ip ss iptables ip6tables curl socat timeout python3 conntrack

declare -A target primary

# one_run RUNDIR FAMILY secondary|primary
one_run() {
    local rundir=$1 family=$2 which=$3 addr title
    begin_run "$rundir" "$family"
    primary[$rundir]=$(iface_addr "$ns_gw" veth-c "$family")
    if [[ "$which" == secondary ]]; then
        if [[ "$family" == ipv6 ]]; then
            addr=$second_ip6
            run "$ns_gw" ip -6 addr add "$addr/64" dev veth-c nodad
        else
            addr=$second_ip4
            run "$ns_gw" ip addr add "$addr/24" dev veth-c
        fi
        title="DNAT to a second address"
        start_proxy "$ns_gw" "$rundir" redirect "$(endpoint "$addr" "$redirect_port")"
    else
        addr=${primary[$rundir]}
        title="DNAT to veth-c's address"
    fi
    target[$rundir]=$(endpoint "$addr" "$redirect_port")
    local to=(--to-address "$addr")
    [[ "$family" == ipv6 ]] && to=(--to-address6 "$addr")
    apply_rules "$ns_gw" --mode dnat --port "$redirect_port" --dport "$lab_ports" \
        --in-interface veth-c "--$family" "${to[@]}"
    if [[ "$which" == primary ]]; then
        start_proxy "$ns_gw" "$rundir" redirect "[::]:$redirect_port"
    fi
    run_traffic "$rundir"
    show_client_conntrack "$rundir"
    end_run "$rundir" 03-dnat dnat "$title"
}

for family in "${lab_families[@]}"; do
    section "(A) DNAT to the gateway's veth-c address, $family: dnat-$family/"
    one_run "dnat-$family" "$family" primary
    section "(B) DNAT to a second address that only the proxy listens on, $family: dnat-secondary-$family/"
    one_run "dnat-secondary-$family" "$family" secondary
done

run_report "tplab report"

section "checks (from report.json and the kernels' own addresses)"
for rd in "${run_dirs[@]}"; do
    check_path "$rd" "the gateway (the proxy's own connection)"
    check_nat_interception "$rd" "${target[$rd]}" DNAT "the DNAT target"
    if [[ "$rd" == dnat-secondary-* ]]; then
        got=$(report_get "$rd" 'f["internals"]["accepted_local"].rsplit(":", 1)[0].strip("[]")')
        if [[ "$got" != "${primary[$rd]}" ]]; then
            pass "$rd: that is not veth-c's primary address ${primary[$rd]}, the one REDIRECT would have used"
        else
            fail "$rd: the connection reached veth-c's primary address ${primary[$rd]}, not the second one"
        fi
    fi
done

log ""
log "finished in ${SECONDS}s"
lab_exit
