#!/usr/bin/env bash
# A class pauses; the lab must not die while it does. With LAB_PAUSE=1 on a terminal the lab
# stops at each pause_here until Enter while the instructor explains, with its server and proxy
# still running; LAB_TIMEOUT (default 120 s) must not count that time. Here the quickstart runs
# on a pseudo-terminal (pause_here waits only on a terminal) with LAB_TIMEOUT=6 standing in for
# the 120 s, and each of its two pauses is held HOLD seconds (default 10, longer than the
# timeout) before Enter: every check must still pass, and nothing may be left behind.
# Before the fix, timeout(1) killed the proxy of (a) and the server during the first pause:
# "redirect: tplab exited cleanly on SIGTERM" and the checks of (b) failed, exit 1.
# Usage: pause_outlasts_timeout.sh LAB_SCRIPT [HOLD]. Exit 0 pass, 1 fail, 4 skip.
set -uo pipefail

lab=$1
hold=${2:-10}
prefix="tplpause$$"
timeout_s=6

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root to create network namespaces"
    exit 4
fi

log=$(mktemp)
our_namespaces() {
    ip netns list 2>/dev/null | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}'
}
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    local ns
    for ns in $(our_namespaces); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    rm -f "$log"
}
trap cleanup EXIT

# Runs the lab on a pty; at each "-- paused" line waits HOLD seconds, then presses Enter. Prints
# the lab's output, then "pauses=N status=S seconds=T". Gives up (SIGINT to the lab) after 150 s.
start=$SECONDS
LAB_PREFIX=$prefix LAB_PAUSE=1 LAB_TIMEOUT=$timeout_s /usr/bin/python3 - "$lab" "$hold" <<'EOF' >"$log" 2>&1
import os, pty, select, signal, sys, time

lab, hold = sys.argv[1], float(sys.argv[2])
pid, fd = pty.fork()
if pid == 0:
    os.execv(lab, [lab])
pending, pauses, deadline = b"", 0, time.monotonic() + 150
while True:
    if time.monotonic() > deadline:
        print("\ndriver: the lab did not finish in 150 s; interrupting it", flush=True)
        os.killpg(pid, signal.SIGINT)
        deadline = time.monotonic() + 30
    ready, _, _ = select.select([fd], [], [], 1)
    if not ready:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:  # EIO: the lab exited and closed the terminal
        break
    if not data:
        break
    sys.stdout.buffer.write(data)
    sys.stdout.flush()
    pending += data
    while b"-- paused" in pending:
        pending = pending.split(b"-- paused", 1)[1]
        pauses += 1
        time.sleep(hold)
        os.write(fd, b"\n")
_, status = os.waitpid(pid, 0)
print(f"\npauses={pauses} status={os.waitstatus_to_exitcode(status)}")
EOF
seconds=$((SECONDS - start))
tr -d '\r' <"$log" >"$log.txt" && mv "$log.txt" "$log"

status=0
result=$(grep -E '^pauses=[0-9]+ status=-?[0-9]+$' "$log" | tail -1)
pauses=$(sed -n 's/^pauses=\([0-9]*\) .*/\1/p' <<<"$result")
code=$(sed -n 's/.* status=\(-\{0,1\}[0-9]*\)$/\1/p' <<<"$result")
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
echo "quickstart with LAB_PAUSE=1 LAB_TIMEOUT=$timeout_s, each pause held ${hold}s: exit ${code:-?}, " \
    "${pauses:-0} pauses, ${summary:-no summary}, ${seconds}s in all"
if [ "${pauses:-0}" -ne 2 ]; then
    echo "FAIL: want 2 pauses (after (a) REDIRECT and after (b) TPROXY), got ${pauses:-0}"
    status=1
fi
if [ "${code:-1}" != 0 ] || ! [[ "$summary" =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]; then
    echo "FAIL: the lab must pass every check after pauses longer than LAB_TIMEOUT"
    grep -E '^ *FAIL: ' "$log"
    status=1
fi
if [ "$seconds" -lt $((2 * hold)) ]; then
    echo "FAIL: the run took ${seconds}s, less than its two pauses: the pauses were not held"
    status=1
fi
left=$(our_namespaces | tr '\n' ' ')
if [ -n "$left" ]; then
    echo "FAIL: namespaces left behind: $left"
    status=1
fi
if [ "$status" -eq 0 ]; then
    echo "PASS: paused 2 x ${hold}s with LAB_TIMEOUT=$timeout_s, the quickstart passed: $summary"
else
    tail -40 "$log"
fi
exit "$status"
