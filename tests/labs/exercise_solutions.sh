#!/bin/bash
# One break-and-fix exercise end to end: labs/exercise.sh N builds it broken; --check must FAIL
# (exit 1) and name the fault (a line matching WANT_REASON); the steps for N in
# docs/instructor/solutions.txt are applied in the namespaces; --check must then PASS (exit 0);
# --clean must leave no namespace, process or file behind.
# Usage: exercise_solutions.sh N WANT_REASON   (LAB_PREFIX: the namespaces' prefix; default tplext)
set -euo pipefail

n=${1:?usage: exercise_solutions.sh N WANT_REASON}
want_reason=${2:?usage: exercise_solutions.sh N WANT_REASON}
repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
exercise="$repo/labs/exercise.sh"
solutions="$repo/docs/instructor/solutions.txt"
export LAB_PREFIX=${LAB_PREFIX:-tplext}
state="/run/tplab-exercise-$LAB_PREFIX"
out=$(mktemp -d)

finish() {
    local rc=$?
    "$exercise" "$n" --clean >/dev/null 2>&1 || true
    rm -rf -- "$out"
    exit "$rc"
}
trap finish EXIT

failed() {
    printf 'FAIL: %s\n' "$*"
    exit 1
}

rc=0
"$exercise" "$n" >"$out/setup.txt" 2>&1 || rc=$?
cat "$out/setup.txt"
((rc != 4)) || exit 4
((rc == 0)) || failed "exercise $n: setup exited $rc"
grep -q '^Symptom:' "$out/setup.txt" || failed "exercise $n: setup printed no symptom"

rc=0
"$exercise" "$n" --check >"$out/broken.txt" 2>&1 || rc=$?
sed 's/^/  broken | /' "$out/broken.txt"
((rc == 1)) || failed "exercise $n: --check on the broken gateway exited $rc, want 1"
grep -q '^FAIL: .*'"$want_reason" "$out/broken.txt" ||
    failed "exercise $n: --check did not name the fault (no FAIL line matching '$want_reason')"
printf 'PASS: exercise %s: --check fails while broken and names %s\n' "$n" "$want_reason"

steps=0
while read -r num ns cmd; do
    [[ "$num" == "$n" ]] || continue
    steps=$((steps + 1))
    printf '[%s] # %s\n' "$ns" "$cmd"
    (cd "$state" && ip netns exec "$LAB_PREFIX-$ns" bash -c "$cmd") ||
        failed "exercise $n: solution step $steps failed"
done < <(grep -Ev '^[[:space:]]*(#|$)' "$solutions")
((steps > 0)) || failed "exercise $n: no solution in $solutions"

rc=0
"$exercise" "$n" --check >"$out/fixed.txt" 2>&1 || rc=$?
sed 's/^/  fixed  | /' "$out/fixed.txt"
((rc == 0)) || failed "exercise $n: --check after the solution exited $rc, want 0"
printf 'PASS: exercise %s: --check passes after the solution (%s steps)\n' "$n" "$steps"

"$exercise" "$n" --clean
left=$(ip netns list | awk -v p="$LAB_PREFIX-" 'index($1, p) == 1 {print $1}')
[[ -z "$left" ]] || failed "exercise $n: --clean left namespaces: $left"
[[ ! -e "$state" ]] || failed "exercise $n: --clean left $state"
printf 'PASS: exercise %s: --clean removed the namespaces and %s\n' "$n" "$state"
