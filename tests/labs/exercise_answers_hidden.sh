#!/bin/bash
# The answers stay with the instructor: exercise 5's fault (src_valid_mark) is in no file of the
# student's directory and in no output a student sees (set-up, --check, --help, the handout);
# the set-up log is root-only (0600 in a 0700 directory outside the student's); the solutions
# are not under labs/. --hint climbs a ladder (1, 2, 3, then 3 again) without naming the fault.
# What the exercise runs has TPLAB_EXERCISE=1 in its environment, and where tplab doctor has
# --no-fix (it names the fault without the command that fixes it), --check and the hints use it.
# Usage: exercise_answers_hidden.sh   (LAB_PREFIX: default tplexh)
set -uo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
exercise="$repo/labs/exercise.sh"
export LAB_PREFIX=${LAB_PREFIX:-tplexh}
state="/run/tplab-exercise-$LAB_PREFIX"
private="$state.private"
out=$(mktemp -d)
failures=0
fault=src_valid_mark

finish() {
    "$exercise" 5 --clean >/dev/null 2>&1
    rm -rf -- "$out"
}
trap finish EXIT

# A tplab whose doctor has --no-fix (as the merged build will): a wrapper that takes the option
# out, notes the call, and runs the real binary. The check and the hints must use the option.
real=$(readlink -f "${TPLAB:-$repo/build/cli/tplab}")
[[ -x "$real" ]] || { echo "FAIL: no tplab binary (set TPLAB)"; exit 1; }
mkdir -p "$out/bin"
cat >"$out/bin/tplab" <<WRAPPER
#!/bin/bash
[[ "\$1" == doctor ]] || exec "$real" "\$@"
args=()
for a in "\$@"; do
    if [[ "\$a" == --no-fix ]]; then printf '%s\n' "\$*" >>"$out/no-fix.log"; else args+=("\$a"); fi
done
if [[ " \$* " == *" --help "* ]]; then "$real" "\${args[@]}"; echo "  --no-fix  name faults, not fixes"; exit 0; fi
exec "$real" "\${args[@]}"
WRAPPER
chmod +x "$out/bin/tplab"
export TPLAB="$out/bin/tplab"

ok() { printf 'PASS: %s\n' "$*"; }
bad() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}

rc=0
"$exercise" 5 >"$out/setup" 2>&1 || rc=$?
((rc == 4)) && { cat "$out/setup"; exit 4; }
((rc == 0)) || { bad "exercise 5 did not set up (exit $rc)"; cat "$out/setup"; exit 1; }

found=$(grep -rl -- "$fault" "$state" 2>/dev/null)
if [[ -z "$found" ]]; then ok "no file of $state names the fault"; else bad "the student's directory names the fault: $found"; fi
if [[ ! -e "$state/.setup.log" ]]; then ok "no .setup.log in the student's directory"; else bad "$state/.setup.log exists"; fi
perm_dir=$(stat -c %a "$private" 2>/dev/null) perm_log=$(stat -c %a "$private/setup.log" 2>/dev/null)
if [[ "$perm_dir" == 700 && "$perm_log" == 600 ]] && grep -q -- "$fault" "$private/setup.log"; then
    ok "the set-up's commands are in $private/setup.log, mode 600 in a 700 directory"
else
    bad "set-up log: directory mode ${perm_dir:-missing}, file mode ${perm_log:-missing}, or no $fault in it"
fi

"$exercise" 5 --check >"$out/check" 2>&1
"$exercise" --help >"$out/help" 2>&1
for f in setup check help; do
    pattern="solution\|$fault"
    [[ "$f" == check ]] && pattern=solution  # --check names the fault (doctor's finding), not the fix
    if grep -qi -- "$pattern" "$out/$f"; then
        bad "the $f output gives the answer away: $(grep -i -- "$pattern" "$out/$f" | head -n1)"
    else
        ok "the $f output gives no answer away"
    fi
done
if grep -qi "solution" "$repo/docs/teaching/exercises.md"; then
    bad "the handout (docs/teaching/exercises.md) points at the solutions"
else
    ok "the handout does not point at the solutions"
fi
left=$(find "$repo/labs" -iname '*solution*')
if [[ -z "$left" ]]; then ok "no solutions under labs/"; else bad "solutions under labs/: $left"; fi

if grep -q -- "doctor --mode tproxy --port 15002 --json --no-fix" "$out/no-fix.log" 2>/dev/null; then
    ok "--check runs tplab doctor with --no-fix when this tplab has it"
else
    bad "--check did not run tplab doctor --no-fix: $(cat "$out/no-fix.log" 2>/dev/null)"
fi

want=(1 2 3 3)
for i in 0 1 2 3; do
    "$exercise" 5 --hint >"$out/hint$i" 2>&1
    if grep -q "^Hint ${want[i]} of 3 for exercise 5:" "$out/hint$i" && ! grep -q -- "$fault" "$out/hint$i"; then
        ok "--hint call $((i + 1)) gives hint ${want[i]} of 3, without naming the fault"
    else
        bad "--hint call $((i + 1)):"
        sed 's/^/  | /' "$out/hint$i"
    fi
done

if grep -q "tplab doctor --no-fix --mode tproxy" "$out/hint1"; then
    ok "the hint's doctor command has --no-fix"
else
    bad "hint 2 suggests no tplab doctor --no-fix:"
    sed 's/^/  | /' "$out/hint1"
fi

pid=$(ip netns exec "$LAB_PREFIX-gw" ss -Hltnp 'sport = :15002' | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2)
if [[ -n "$pid" ]] && tr '\0' '\n' <"/proc/$pid/environ" | grep -qx TPLAB_EXERCISE=1; then
    ok "the exercise's tplab proxy runs with TPLAB_EXERCISE=1"
else
    bad "the exercise's tplab proxy (pid ${pid:-none}) has no TPLAB_EXERCISE=1"
fi
((failures == 0))
