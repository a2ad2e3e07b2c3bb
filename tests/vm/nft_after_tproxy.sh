#!/usr/bin/env bash
# Reproduces the "nft list ruleset hangs after an iptables TPROXY rule" report (issue 10) in a
# throwaway namespace: adds the labs' TPROXY rule with iptables (iptables-nft), then lists the
# ruleset with nft under a timeout, and prints how long it took and what it printed.
# Runs on the host or inside the VM: sudo tests/vm/nft_after_tproxy.sh
# Exit 0 if nft answered every time within NFT_TIMEOUT seconds (default 30), 1 if not.
set -euo pipefail

ns=tplnft$$
limit=${NFT_TIMEOUT:-30}
cleanup() { ip netns del "$ns" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link set lo up
ip netns exec "$ns" iptables -t mangle -A PREROUTING -p tcp --dport 80 \
    -j TPROXY --on-ip 0.0.0.0 --on-port 15002 --tproxy-mark 0x1/0x1
ip netns exec "$ns" iptables -t mangle -A PREROUTING -p tcp -m socket --transparent -j MARK --set-mark 0x1

echo "iptables -V: $(ip netns exec "$ns" iptables -V)"
echo "nft -V: $(nft -V 2>/dev/null | head -1 || nft --version)"
# NFT_REPEAT lists it that many times (default 1); the slowest is reported.
slowest=0
for ((i = 1; i <= ${NFT_REPEAT:-1}; i++)); do
    start=$EPOCHREALTIME
    rc=0
    ip netns exec "$ns" timeout --kill-after=5 "$limit" nft list ruleset >"/tmp/$ns.out" 2>&1 || rc=$?
    elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }')
    slowest=$(awk -v a="$slowest" -v b="$elapsed" 'BEGIN { print (b > a ? b : a) }')
    [[ $i -eq 1 || $rc -ne 0 ]] && sed 's/^/  | /' "/tmp/$ns.out"
    rm -f "/tmp/$ns.out"
    if [[ $rc -eq 124 || $rc -eq 137 ]]; then
        echo "FAIL: nft list ruleset did not answer in ${limit} s (attempt $i)"
        exit 1
    fi
    if [[ $rc -ne 0 ]]; then
        echo "FAIL: nft list ruleset exited $rc (attempt $i)"
        exit 1
    fi
done
echo "PASS: nft list ruleset answered ${NFT_REPEAT:-1} time(s), the slowest in ${slowest} s"
