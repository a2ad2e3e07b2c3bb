#!/usr/bin/env bash
# CI stage: valgrind (memcheck) on the real tplab binary: a short relay run of `tplab proxy` and a
# `tplab report` of the sample run in tests/fuzz/sample_run. Any memcheck error or definite or
# indirect leak fails. Usage: scripts/ci-valgrind.sh [TPLAB_BINARY] (default build/cli/tplab).
# The relay runs in a namespace of its own (needs root):
#
#   curl ──> 192.0.2.1:80 ──(nat OUTPUT REDIRECT)──> tplab proxy 127.0.0.1... :15001
#                                                      └─(SO_MARK 2, exempt)──> server 192.0.2.1:80
set -euo pipefail
cd "$(dirname "$0")/.."

tplab=$(realpath "${1:-build/cli/tplab}")
work=$(mktemp -d /tmp/tplab-valgrind.XXXXXX)
ns=tpt$$-vg
server_pid=
cleanup() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# shellcheck disable=SC2054  # the commas belong to one valgrind option
memcheck=(valgrind --quiet --error-exitcode=99 --leak-check=full
    --errors-for-leak-kinds=definite,indirect --track-fds=no)
failed=0

check() {  # check NAME LOG STATUS: memcheck's verdict on one run
    local name=$1 log=$2 status=$3
    if [[ "$status" -eq 99 ]] || grep -q 'ERROR SUMMARY: [1-9]\|definitely lost: [1-9]\|indirectly lost: [1-9]' "$log"; then
        echo "FAIL: valgrind $name (status $status)"
        cat "$log"
        failed=1
    elif [[ "$status" -ne 0 ]]; then
        echo "FAIL: $name exited with status $status"
        cat "$log"
        failed=1
    else
        echo "PASS: valgrind $name: no memcheck error, no definite or indirect leak"
    fi
}

# 1. tplab report of a real capture (two points, IPv4 and IPv6, TCP and UDP), every output.
status=0
"${memcheck[@]}" --log-file="$work/report.vg" "$tplab" report tests/fuzz/sample_run -q \
    --json "$work/report.json" --html "$work/report.html" --text "$work/report.txt" \
    >"$work/report.out" 2>&1 || status=$?
cat "$work/report.out" >>"$work/report.vg"
[[ -s "$work/report.txt" ]] || { echo "FAIL: tplab report wrote no text report"; failed=1; }
check "tplab report" "$work/report.vg" "$status"

# 2. tplab proxy (redirect mode) relaying real connections, then SIGTERM.
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add veth-vg type veth peer name veth-vg-peer  # an address for the server
ip -n "$ns" addr add 192.0.2.1/24 dev veth-vg
ip -n "$ns" link set veth-vg up
ip netns exec "$ns" iptables -w -t nat -A OUTPUT -p tcp -d 192.0.2.1 --dport 80 \
    -m mark ! --mark 2 -j REDIRECT --to-ports 15001
mkdir "$work/www"
head -c 1000000 /dev/urandom >"$work/www/blob"
echo "server 192.0.2.1" >"$work/www/index.html"
timeout 120 ip netns exec "$ns" python3 -m http.server --bind 192.0.2.1 --directory "$work/www" 80 \
    >"$work/server.log" 2>&1 &
server_pid=$!
timeout 120 ip netns exec "$ns" "${memcheck[@]}" --log-file="$work/proxy.vg" \
    "$tplab" proxy --mode redirect --listen 127.0.0.1:15001 --mark 2 \
    --events "$work/events.jsonl" >"$work/proxy.out" 2>&1 &
proxy_pid=$!
for _ in $(seq 100); do  # valgrind starts slowly
    ip netns exec "$ns" ss -Hltn 'sport = :15001' | grep -q . && break
    sleep 0.2
done
relayed=0
for i in $(seq 10); do
    if ip netns exec "$ns" curl -sS --max-time 20 -o "$work/got-$i" http://192.0.2.1/blob &&
        cmp -s "$work/got-$i" "$work/www/blob"; then
        relayed=$((relayed + 1))
    fi
done
ip netns exec "$ns" curl -sS --max-time 20 http://192.0.2.1/index.html >"$work/index" || true
kill -TERM "$proxy_pid"
status=0
wait "$proxy_pid" || status=$?
cat "$work/proxy.out" >>"$work/proxy.vg"
if [[ "$relayed" -ne 10 ]] || ! grep -q "server 192.0.2.1" "$work/index" ||
    [[ $(grep -c '"event": *"closed"' "$work/events.jsonl" || true) -ne 11 ]]; then
    echo "FAIL: the proxy relayed $relayed of 10 transfers of 1 MB under valgrind (events below)"
    cat "$work/events.jsonl"
    cat "$work/proxy.out" "$work/server.log"
    failed=1
else
    echo "PASS: tplab proxy relayed 11 connections (10 x 1 MB) under valgrind"
fi
check "tplab proxy" "$work/proxy.vg" "$status"
exit "$failed"
