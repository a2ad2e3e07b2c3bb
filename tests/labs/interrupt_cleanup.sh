#!/usr/bin/env bash
# Interrupts a lab half-way with SIGINT (to its process group, as Ctrl-C does) and checks it left nothing behind:
# no namespace of its prefix, no process that ran in them, no rule (rules die with the namespaces).
# Usage: interrupt_cleanup.sh LAB_SCRIPT DELAY_SECONDS. Exit 0 pass, 1 fail, 4 skip.
set -euo pipefail

lab=$1
delay=$2
prefix="tplint$$"

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root to create network namespaces"
    exit 4
fi

# A process that still runs: a zombie has ended and only waits for its new parent (init) to reap
# it, which a busy machine may not have done yet.
running() {
    local state
    # the field after the command name, which is in parentheses and may hold spaces
    state=$(sed -n 's/^.*) \(.\).*/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z ]]
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# A job started with & from a non-interactive shell ignores SIGINT, and bash cannot un-ignore a
# signal it inherited ignored: env --default-signal resets it before exec'ing the lab, so the lab
# sees SIGINT exactly as it would from Ctrl-C. (It used to be a python one-liner; where python3
# is a pyenv shim, itself a bash script that inherits the ignored SIGINT, the shims took longer
# than the shorter delays, and the SIGINT was lost before the lab had started.)
LAB_PREFIX=$prefix setsid env --default-signal=INT "$lab" >"$log" 2>&1 &
lab_pid=$!

sleep "$delay"
pids_inside=""
for ns in $(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}'); do
    # a lab may delete a namespace between the listing and this look (labs tear down per run)
    # (then `ip netns pids` fails: with pipefail and set -e that must not end this script)
    pids_inside+=" $(ip netns pids "$ns" 2>/dev/null | tr '\n' ' ' || true)"
done
if ! kill -0 "$lab_pid" 2>/dev/null; then
    echo "FAIL: $lab finished before ${delay}s; choose a shorter delay"
    cat "$log"
    exit 1
fi
# Ctrl-C reaches the whole foreground process group, not only the script: a lab's bash waiting
# for a child that did not see the SIGINT carries on when the child exits normally (bash's
# "wait and cooperative exit"), which is not what a user at a terminal gets. setsid made the lab
# the leader of a group of its own, so signal that group.
kill -INT -- "-$lab_pid"

status=0
for _ in $(seq 1 200); do
    kill -0 "$lab_pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$lab_pid" 2>/dev/null; then
    echo "FAIL: $lab still running 20 s after SIGINT"
    kill -KILL "$lab_pid"
    status=1
fi
wait "$lab_pid" || code=$?
echo "lab exited with ${code:-0} after SIGINT at ${delay}s"

left_ns=$(ip netns list | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}')
if [ -n "$left_ns" ]; then
    echo "FAIL: namespaces left behind: $left_ns"
    for ns in $left_ns; do ip netns pids "$ns" | xargs -r kill -9; ip netns del "$ns"; done
    status=1
fi
for pid in $pids_inside; do
    if running "$pid"; then
        echo "FAIL: process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) survived the lab"
        kill -9 "$pid" 2>/dev/null || true
        status=1
    fi
done
if [ "${code:-0}" -eq 0 ]; then
    echo "FAIL: an interrupted lab must not exit 0"
    status=1
fi
if [ "$status" -eq 0 ]; then
    echo "PASS: $lab interrupted at ${delay}s left no namespace and no process (${pids_inside:+$(echo $pids_inside | wc -w) checked})"
else
    tail -20 "$log"
fi
exit "$status"
