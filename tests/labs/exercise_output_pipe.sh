#!/bin/bash
# `labs/exercise.sh N | cat` and `$(labs/exercise.sh N)` return once the exercise is set up: the
# background jobs it leaves running hold none of the caller's output (they used to keep the
# script's stdout and stderr open for EXERCISE_TIMEOUT, four hours).
# Usage: exercise_output_pipe.sh   (LAB_PREFIX: default tplexp)
set -uo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
exercise="$repo/labs/exercise.sh"
export LAB_PREFIX=${LAB_PREFIX:-tplexp}
out=$(mktemp -d)
failures=0

finish() {
    "$exercise" 1 --clean >/dev/null 2>&1
    rm -rf -- "$out"
}
trap finish EXIT

# returns NAME SHELL_COMMAND: run it in the background; PASS if it ends within 60 s.
returns() {
    local name=$1 pid
    bash -c "$2" >"$out/log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        printf 'FAIL: %s: still running after 60 s\n' "$name"
        failures=$((failures + 1))
        "$exercise" 1 --clean >/dev/null 2>&1  # ends the jobs, and with them the pipe
        wait "$pid"
        return
    fi
    wait "$pid"
    local rc=$?
    if ((rc == 4)); then
        cat "$out/log"
        exit 4
    fi
    if ((rc == 0)) && grep -q '^Symptom:' "$out/log"; then
        printf 'PASS: %s returns, with the symptom\n' "$name"
    else
        printf 'FAIL: %s: exit %s\n' "$name" "$rc"
        sed 's/^/  | /' "$out/log"
        failures=$((failures + 1))
    fi
}

returns "exercise.sh 1 2>&1 | cat" "'$exercise' 1 2>&1 | cat"
returns "\$(exercise.sh 1)" "x=\$('$exercise' 1 2>&1); printf '%s\n' \"\$x\""
((failures == 0))
