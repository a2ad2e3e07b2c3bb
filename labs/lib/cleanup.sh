# shellcheck shell=bash
# Part of labs/lib.sh, which sources every part in order (source lib.sh, not this file).
# The cleanup that runs on every exit path, and the signal handler (lib.sh sets the traps).

#### Cleanup ##################################################################

# cleanup: run deferred commands, stop recorded jobs, stop anything left in our namespaces,
# delete them (their veths, addresses, routes and rules go with them), remove the temp dir.
# Safe to call more than once; keeps the exit status of the script.
#
# Surprise (bash 5.2): a signal that arrives while bash waits for one $(...) of a command is
# handled while bash parses the NEXT $(...) of the same command, and parsing the trap string
# then fails ("interrupt trap: line 2: unexpected EOF while looking for matching `)'"): the
# script dies with status 2 and only the EXIT trap runs. Cleanup still happens, but keep to
# one $(...) per command in labs (assign to a variable first) so Ctrl-C exits 130 cleanly.
cleanup() {
    local rc=$? pid ns i pids inside=()
    ((lab_cleaned)) && return "$rc"
    lab_cleaned=1
    trap '' INT TERM HUP  # a second Ctrl-C must not cut the cleanup short
    set +e
    # Everything running in our namespaces now, to wait for at the end (see lab_ns_kill_all).
    for ns in "${lab_ns_list[@]}"; do
        pids=$(lab_on "$ns" ip netns pids "$ns" 2>/dev/null </dev/null)
        for pid in $pids; do
            inside+=("$ns $pid")
        done
    done
    for ((i = ${#lab_deferred[@]} - 1; i >= 0; i--)); do
        eval "${lab_deferred[i]}" >/dev/null 2>&1
    done
    for pid in "${lab_pids[@]}"; do
        lab_signal_job "$pid" TERM
    done
    for pid in "${lab_pids[@]}"; do
        busywait 3 lab_pid_gone "$pid" || kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    for ns in "${lab_ns_list[@]}"; do
        if lab_ns_exists "$ns"; then
            lab_undo_rules "$ns"
            lab_ns_kill_all "$ns"
            lab_on "$ns" ip netns del "$ns" 2>/dev/null
        fi
    done
    for pid in "${inside[@]}"; do
        # shellcheck disable=SC2086  # "NS PID"
        busywait 3 lab_ns_pid_gone $pid
    done
    if [[ -n "$lab_work" && -z "$LAB_OUTPUT" ]]; then
        rm -rf -- "$lab_work"
    fi
    return "$rc"
}

lab_on_signal() {
    local code=$1
    trap - INT TERM HUP
    printf '\ninterrupted: cleaning up\n' >&4 2>/dev/null || true
    cleanup
    exit "$code"
}
