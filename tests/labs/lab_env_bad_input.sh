#!/bin/bash
# The labs refuse bad settings for the three-VM mode (LAB_MACHINES, LAB_SSH, LAB_LINKS) and a bad
# LAB_HOLD or LAB_TIMEOUT with one line naming the problem and exit 2, before touching anything; so does
# scripts/vm-three.sh with bad arguments.
# Usage: lab_env_bad_input.sh REPO_DIR
set -uo pipefail
repo=${1:?usage: lab_env_bad_input.sh REPO_DIR}
failures=0
# expect_2 WHAT CMD...: CMD exits 2 with one line that mentions WHAT.
expect_2() {
    local what=$1 out rc=0
    shift
    out=$("$@" 2>&1 </dev/null) || rc=$?
    if ((rc == 2)) && [[ $(printf '%s\n' "$out" | wc -l) -eq 1 && "$out" == *"$what"* ]]; then
        printf 'PASS: %s -> exit 2: %s\n' "$what" "$out"
    else
        printf 'FAIL: %s -> exit %s, output:\n%s\n' "$what" "$rc" "$out"
        failures=$((failures + 1))
    fi
}
lab=$repo/labs/01-direct.sh
expect_2 LAB_HOLD env LAB_HOLD=abc "$lab"
expect_2 LAB_HOLD env LAB_HOLD=0 "$lab"
expect_2 LAB_HOLD env 'LAB_HOLD=1; reboot' "$lab"
expect_2 LAB_TIMEOUT env LAB_TIMEOUT=2m "$lab"
expect_2 LAB_TIMEOUT env LAB_TIMEOUT=0 "$lab"
expect_2 LAB_MACHINES env 'LAB_MACHINES=client=vm;reboot' LAB_SSH=ssh "$lab"
expect_2 LAB_MACHINES env LAB_MACHINES=client LAB_SSH=ssh "$lab"
expect_2 'LAB_SSH' env LAB_MACHINES=client=vm-client "$lab"
expect_2 LAB_LINKS env LAB_LINKS=client-gw=52:54:00:7a:00 "$lab"
expect_2 LAB_LINKS env 'LAB_LINKS=client=52:54:00:7a:00:12' "$lab"
expect_2 'unknown argument' "$repo/scripts/vm-three.sh" --frobnicate
expect_2 '--out must be a plain path' "$repo/scripts/vm-three.sh" --out '/tmp/a b;c'
[[ ! -e '/tmp/a b;c' ]] || { echo 'FAIL: vm-three.sh created the directory it refused'; failures=$((failures + 1)); }
((failures == 0))
