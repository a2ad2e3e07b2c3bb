#!/bin/bash
# The cheat catalogue of labs/exercise.sh --check: each case sets an exercise up, applies a cheat
# (something that makes the symptom go away without fixing the proxy path) or a valid fix other
# than the one in the solutions, as a root student would in the gateway's namespace, runs
# --check and wants FAIL (exit 1, a FAIL line matching WANT) or PASS (exit 0, a PASS line
# matching WANT). Every case starts from a fresh set-up (about 1 s), so no case can leak into
# the next.
# Usage: exercise_cheats.sh [CASE_NAME_REGEX]   (LAB_PREFIX: default tplexc; TPLAB: the binary)
set -uo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
exercise="$repo/labs/exercise.sh"
export LAB_PREFIX=${LAB_PREFIX:-tplexc}
state="/run/tplab-exercise-$LAB_PREFIX"
only=${1:-.}
out=$(mktemp -d)
tplab=${TPLAB:-tplab}
failures=0 cases=0
current=""

finish() {
    [[ -n "$current" ]] && "$exercise" "$current" --clean >/dev/null 2>&1
    rm -rf -- "$out"
}
trap finish EXIT

# A fake server: answers any GET like the exercise's server would, echoing the check's token
# from the path, so only the evidence (events, the server's log) can tell it apart.
# shellcheck disable=SC2016
fake_py='
import re, socket, sys, threading
IP_TRANSPARENT = 19
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
if sys.argv[2] == "transparent":
    s.setsockopt(socket.SOL_IP, IP_TRANSPARENT, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(16)
def serve(c):
    req = c.recv(4096).decode(errors="replace")
    m = re.search(r"GET /tplab-check/([0-9a-f]+)", req)
    body = "served by server" + (f", check {m.group(1)}" if m else "") + "\n"
    c.sendall(f"HTTP/1.0 200 OK\r\nContent-Length: {len(body)}\r\n\r\n{body}".encode())
    c.close()
while True:
    c, _ = s.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
'
# shellcheck disable=SC2016  # the command lines below are expanded in the gateway's shell
fake() {  # fake PORT [transparent]: a command line that starts the fake server in the background
    printf 'printf %%s %q >fake.py; setsid timeout 300 python3 fake.py %s %s >fake.log 2>&1 </dev/null & for i in $(seq 50); do ss -Hltn "sport = :%s" | grep -q . && break; sleep 0.1; done' \
        "$fake_py" "$1" "${2:-plain}" "$1"
}
# shellcheck disable=SC2016
# A tplab proxy of the student's own, started in the background on PORT (mode: tproxy, or MODE).
own_proxy() {
    printf 'setsid timeout 300 %q proxy --mode %s --listen 0.0.0.0:%s --events events.jsonl >own-proxy.log 2>&1 </dev/null & for i in $(seq 50); do ss -Hltn "sport = :%s" | grep -q . && break; sleep 0.1; done' \
        "$tplab" "${2:-tproxy}" "$1" "$1"
}
# shellcheck disable=SC2016
kill_listener() {  # kill_listener PORT: stop whatever listens on PORT (the setup's proxy)
    printf 'kill $(ss -Hltnp "sport = :%s" | grep -o "pid=[0-9]*" | cut -d= -f2 | sort -u); while ss -Hltn "sport = :%s" | grep -q .; do sleep 0.1; done' "$1" "$1"
}
nft_tproxy='nft -f - <<EOF
table ip student {
    chain prerouting {
        type filter hook prerouting priority mangle; policy accept;
        meta l4proto tcp socket transparent 1 meta mark set 0x1 accept
        iifname "veth-c" tcp dport 80 tproxy to :15002 meta mark set 0x1 accept
    }
}
EOF'
masquerade='iptables -t nat -A POSTROUTING -o veth-s -j MASQUERADE'

# case NAME EXERCISE PASS|FAIL WANT COMMAND...: one case; each COMMAND runs with bash -c in the
# gateway's namespace, in the exercise's directory.
case_() {
    local name=$1 n=$2 want=$3 line=$4 cmd rc=0
    shift 4
    [[ "$name" =~ $only ]] || return 0
    cases=$((cases + 1))
    current=$n
    if ! "$exercise" "$n" >"$out/setup.txt" 2>&1; then
        printf 'FAIL: %s: exercise %s did not set up:\n' "$name" "$n"
        cat "$out/setup.txt"
        failures=$((failures + 1))
        return 0
    fi
    for cmd in "$@"; do
        (cd "$state" && ip netns exec "$LAB_PREFIX-gw" bash -c "$cmd") >>"$out/apply.txt" 2>&1
    done
    "$exercise" "$n" --check >"$out/check.raw" 2>&1 || rc=$?
    # One line per finding: the wrapped continuation lines joined back.
    awk '/^      / { sub(/^ +/, " "); line = line $0; next } { if (NR > 1) print line; line = $0 }
         END { print line }' "$out/check.raw" >"$out/check.txt"
    "$exercise" "$n" --clean >/dev/null 2>&1
    current=""
    local want_rc=0
    [[ "$want" == FAIL ]] && want_rc=1
    if ((rc == want_rc)) && grep -qE "^$want: .*$line" "$out/check.txt"; then
        printf 'PASS: %s: --check says %s (%s)\n' "$name" "$want" "$(grep -E "^$want: .*$line" "$out/check.txt" | head -n1 | cut -c1-60)"
    else
        printf 'FAIL: %s: --check exited %s, want %s with a %s line matching %s:\n' "$name" "$rc" "$want_rc" "$want" "$line"
        sed 's/^/  | /' "$out/check.txt"
        failures=$((failures + 1))
    fi
}

case_ "exercise 1, a transparent fake server on the rule's port" 1 FAIL "did not go through" \
    "$(fake 12345 transparent)"
case_ "exercise 1, the rule moved to the proxy's port" 1 PASS "through tplab proxy" \
    "iptables -t mangle -R PREROUTING 2 -i veth-c -p tcp --dport 80 -j TPROXY --on-port 555 --tproxy-mark 1/1"
case_ "exercise 1, the proxy restarted on the rule's port" 1 PASS "through tplab proxy" \
    "$(kill_listener 555)" "$(own_proxy 12345)"
case_ "exercise 2, a decoy ip rule after main, and MASQUERADE" 2 FAIL "client -> http" \
    "ip rule add fwmark 0x1/0x1 lookup 100 priority 40000" "$masquerade"
case_ "exercise 2, REDIRECT to a tplab proxy in redirect mode instead" 2 FAIL "in mode redirect, want tproxy" \
    "iptables -t mangle -F PREROUTING" \
    "iptables -t nat -A PREROUTING -i veth-c -p tcp --dport 80 -j REDIRECT --to-ports 15001" \
    "$(own_proxy 15001 redirect)"
case_ "exercise 2, the ip rule with iif veth-c" 2 PASS "through tplab proxy" \
    "ip rule add fwmark 0x1/0x1 iif veth-c lookup 100"
case_ "exercise 3, the local route written as default" 3 PASS "through tplab proxy" \
    "ip route add local default dev lo table 100"
case_ "exercise 4, the ip rule's mark in decimal" 4 PASS "through tplab proxy" \
    "ip rule del fwmark 10/10 lookup 100" "ip rule add fwmark 16/16 lookup 100"
case_ "exercise 6, relay.py unfixed, tplab proxy on its port" 6 FAIL "not by relay.py" \
    "$(kill_listener 15002)" "$(own_proxy 15002)"
case_ "exercise 7, the OUTPUT REDIRECT deleted" 7 FAIL "gateway -> http.*not go through" \
    "iptables -t nat -F OUTPUT"
case_ "exercise 7, the OUTPUT REDIRECT redone in nft, the mark spared" 7 PASS "gateway -> http.*through tplab proxy" \
    "iptables -t nat -F OUTPUT" \
    "nft add table ip student && nft add chain ip student out '{ type nat hook output priority -100; }' && nft add rule ip student out meta mark != 0x2 ip daddr != 127.0.0.0/8 tcp dport 80 redirect to :15001"
case_ "exercise 8, ACCEPT in front, and MASQUERADE, no proxy" 8 FAIL "did not go through" \
    "iptables -t mangle -I PREROUTING 1 -j ACCEPT" "$masquerade"
case_ "exercise 8, a fake server behind REDIRECT" 8 FAIL "did not go through" \
    "iptables -t mangle -F PREROUTING" "$(fake 8080)" \
    "iptables -t nat -A PREROUTING -i veth-c -p tcp --dport 80 -j REDIRECT --to-ports 8080"
case_ "exercise 8, the rule scoped to veth-c without --dport" 8 FAIL "own service.*through the proxy" \
    "iptables -t mangle -R PREROUTING 1 -i veth-c -p tcp -j TPROXY --on-port 15002 --tproxy-mark 0x1/0x1"
case_ "exercise 8, nft table ip with socket transparent" 8 PASS "own service.*directly" \
    "iptables -t mangle -F PREROUTING" "$nft_tproxy"
case_ "exercise 8, scoped rule first, socket guard after" 8 PASS "through tplab proxy" \
    "iptables -t mangle -R PREROUTING 1 -i veth-c -p tcp --dport 80 -j TPROXY --on-port 15002 --tproxy-mark 0x1/0x1" \
    "iptables -t mangle -A PREROUTING -p tcp -m socket --transparent -j MARK --set-mark 0x1"

printf '%d cases, %d failed\n' "$cases" "$failures"
((cases > 0 && failures == 0))
