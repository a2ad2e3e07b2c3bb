#!/bin/bash
# labs/exercise.sh refuses bad input with one line and exit 2, before touching anything.
# Usage: exercise_bad_input.sh path/to/labs/exercise.sh
set -uo pipefail
exercise=${1:?usage: exercise_bad_input.sh EXERCISE_SH}
failures=0
expect_2() {
    local out rc=0
    out=$("$exercise" "$@" 2>&1) || rc=$?
    if ((rc == 2)) && [[ $(printf '%s\n' "$out" | wc -l) -eq 1 && "$out" == ERROR:* ]]; then
        printf 'PASS: exercise.sh %s -> exit 2: %s\n' "$*" "$out"
    else
        printf 'FAIL: exercise.sh %s -> exit %s, output:\n%s\n' "$*" "$rc" "$out"
        failures=$((failures + 1))
    fi
}
expect_2
expect_2 99
expect_2 0
expect_2 1 2
expect_2 --check
expect_2 1 --frobnicate
expect_2 'x;y'
expect_2 1 --student
expect_2 1 --student Ana
expect_2 1 --student 'a;b'
expect_2 1 --student toolongname
expect_2 1 --student ana --student ben
expect_2 1 --hint --check
LAB_PREFIX=../../etc expect_2 1
LAB_PREFIX='a b' expect_2 1
((failures == 0))
