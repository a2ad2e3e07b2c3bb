#!/bin/bash
# Captures what tests/unit/doctor_*_test.cpp read: the JSON forms of `ip rule`, `ip route`,
# `nft list ruleset` (and iptables-save's text) of valid TPROXY set-ups, each built in a
# scratch network namespace. Run as root: tests/data/doctor/capture.sh [path/to/tplab]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tplab=${1:-$here/../../../build/cli/tplab}
ns=tplab-capture-$$
trap 'ip netns del "$ns" 2>/dev/null || true' EXIT

in_ns() { ip netns exec "$ns" "$@"; }

fresh_ns() {
    ip netns del "$ns" 2>/dev/null || true
    ip netns add "$ns"
    ip -n "$ns" link add veth-c type veth peer name veth-s
    ip -n "$ns" link set lo up
}

# capture NAME: what the doctor reads, into NAME.*.
capture() {
    local name=$1
    in_ns ip -4 -j rule >"$here/$name.ip4-rule.json"
    in_ns ip -6 -j rule >"$here/$name.ip6-rule.json"
    in_ns ip -4 -j route show table 100 >"$here/$name.ip4-route-100.json"
    in_ns ip -6 -j route show table 100 >"$here/$name.ip6-route-100.json"
    in_ns nft -j list ruleset >"$here/$name.nft.json"
    in_ns iptables-save | sed '/^#/d' >"$here/$name.iptables.txt"
    in_ns ip6tables-save | sed '/^#/d' >"$here/$name.ip6tables.txt"
}

local_routes() {
    in_ns ip -4 route add local 0.0.0.0/0 dev lo table 100
    in_ns ip -6 route add local ::/0 dev lo table 100
}

# 1. nft `table ip`: the mark set after tproxy; an ip rule with a mask and an iif.
fresh_ns
in_ns nft -f - <<'NFT'
table ip tproxy4 {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        meta l4proto tcp socket transparent 1 meta mark set 0x1 accept
        iifname "veth-c" tcp dport 80 tproxy to :15002 meta mark set 0x1 accept
    }
}
NFT
in_ns ip -4 rule add fwmark 0x1/0x1 iif veth-c lookup 100
in_ns ip -4 rule add priority 100 from 192.0.2.0/24 to 198.51.100.0/24 fwmark 0x4 lookup 101
local_routes
capture nft-table-ip

# 2. nft `table ip6`: the mark set before tproxy; the ip rule's priority first.
fresh_ns
in_ns nft -f - <<'NFT'
table ip6 tproxy6 {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        meta l4proto tcp socket transparent 1 meta mark set 0x1 accept
        iifname "veth-c" tcp dport 80 meta mark set 0x1 tproxy to :15002
    }
}
NFT
in_ns ip -6 rule add priority 1000 fwmark 0x1/0x1 iif veth-c lookup 100
local_routes
capture nft-table-ip6

# 3. nft `table inet` with `tproxy ip to`, an ip rule with `to`, `from` and `oif` selectors
# besides a plain one.
fresh_ns
in_ns nft -f - <<'NFT'
table inet intercept {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        meta l4proto tcp socket transparent 1 meta mark set 0x1 accept
        iifname "veth-c" meta l4proto tcp tcp dport 80 tproxy ip to :15002 meta mark set 0x1 accept
    }
}
NFT
in_ns ip -4 rule add from 192.0.2.0/24 to 0.0.0.0/0 fwmark 0x1/0x1 lookup 100
local_routes
capture nft-inet-tproxy-ip

# 4. The kernel documentation's recipe (Documentation/networking/tproxy.rst): a socket match
# and a MARK, no conntrack zone.
fresh_ns
in_ns iptables -t mangle -N DIVERT
in_ns iptables -t mangle -A PREROUTING -p tcp -m socket -j DIVERT
in_ns iptables -t mangle -A DIVERT -j MARK --set-mark 1
in_ns iptables -t mangle -A DIVERT -j ACCEPT
in_ns iptables -t mangle -A PREROUTING -i veth-c -p tcp --dport 80 -j TPROXY \
    --tproxy-mark 0x1/0x1 --on-port 15002
in_ns ip -4 rule add fwmark 1 lookup 100
local_routes
capture kernel-recipe

# 5. `tplab rules --spoof-source --mark 0x2`, iptables and nft.
for firewall in iptables nft; do
    fresh_ns
    in_ns "$tplab" rules --apply --mode tproxy --port 15002 --dport 80 --in-interface veth-c \
        --spoof-source --mark 2 --firewall "$firewall" >/dev/null
    capture "tplab-rules-spoof-$firewall"
done
