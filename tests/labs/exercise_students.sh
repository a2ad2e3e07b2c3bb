#!/bin/bash
# Two students on one machine: --student gives each their own namespaces, files and grading.
# Ana sets exercise 2 up while Ben sets exercise 3 up, at the same time, both through sudo-less
# root with no LAB_PREFIX of their own (sudo drops it). Ana fixes hers: her --check passes and
# Ben's still fails on his own fault; Ben fixes his: both pass. A third user without --student
# cannot take over (set up again, or --clean) a prefix someone else set up, and --check names --student when the exercise
# set up under a prefix is not the one asked for.
# Usage: exercise_students.sh   (LAB_PREFIX: the prefix the students' names are added to)
set -uo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
exercise="$repo/labs/exercise.sh"
export LAB_PREFIX=${LAB_PREFIX:-tplexs}
out=$(mktemp -d)
failures=0
a=ana$$ b=ben$$
a=${a:0:8} b=${b:0:8}

finish() {
    "$exercise" 2 --clean --student "$a" >/dev/null 2>&1
    "$exercise" 3 --clean --student "$b" >/dev/null 2>&1
    "$exercise" 2 --clean >/dev/null 2>&1
    rm -rf -- "$out"
}
trap finish EXIT

ok() { printf 'PASS: %s\n' "$*"; }
bad() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}

# expect NAME RC FILE REGEX: the command that wrote FILE exited RC and FILE has a REGEX line.
expect() {
    local name=$1 want_rc=$2 rc=$3 file=$4 regex=$5
    if ((rc == want_rc)) && grep -qE -- "$regex" "$file"; then
        ok "$name"
    else
        bad "$name: exit $rc (want $want_rc), no line matching '$regex' in:"
        sed 's/^/  | /' "$file"
    fi
}

SUDO_USER=ana "$exercise" 2 --student "$a" >"$out/a.setup" 2>&1 &
pa=$!
SUDO_USER=ben "$exercise" --student "$b" 3 >"$out/b.setup" 2>&1 &
pb=$!
rca=0 rcb=0
wait "$pa" || rca=$?
wait "$pb" || rcb=$?
((rca == 4 || rcb == 4)) && { cat "$out/a.setup"; exit 4; }
expect "ana's exercise 2 sets up beside ben's" 0 "$rca" "$out/a.setup" "ip netns exec $LAB_PREFIX-$a-gw bash"
expect "ben's exercise 3 sets up beside ana's" 0 "$rcb" "$out/b.setup" "ip netns exec $LAB_PREFIX-$b-gw bash"

ip netns exec "$LAB_PREFIX-$a-gw" ip rule add fwmark 0x1/0x1 lookup 100
rc=0
SUDO_USER=ana "$exercise" 2 --check --student "$a" >"$out/a.check" 2>&1 || rc=$?
expect "ana's fix passes her check" 0 "$rc" "$out/a.check" "^PASS: client -> http.*through tplab proxy"
rc=0
SUDO_USER=ben "$exercise" 3 --check --student "$b" >"$out/b.check" 2>&1 || rc=$?
expect "ben's check still fails, on his own fault" 1 "$rc" "$out/b.check" "^FAIL: .*tproxy.local_route"

ip netns exec "$LAB_PREFIX-$b-gw" ip route add local 0.0.0.0/0 dev lo table 100
rc=0
SUDO_USER=ben "$exercise" 3 --check --student "$b" >"$out/b.check2" 2>&1 || rc=$?
expect "ben's fix passes his check" 0 "$rc" "$out/b.check2" "^PASS: client -> http.*through tplab proxy"
rc=0
SUDO_USER=ana "$exercise" 2 --check --student "$a" >"$out/a.check2" 2>&1 || rc=$?
expect "ana's check still passes after ben's fix" 0 "$rc" "$out/a.check2" "solved"

rc=0
SUDO_USER=ana "$exercise" 3 --check --student "$a" >"$out/wrong" 2>&1 || rc=$?
expect "--check of the wrong exercise names --student" 2 "$rc" "$out/wrong" "^ERROR: exercise 2 is set up .*--student"

# Without --student, the second user does not remove the first one's exercise.
SUDO_USER=ana "$exercise" 2 >"$out/plain" 2>&1 || true
rc=0
SUDO_USER=ben "$exercise" 3 >"$out/takeover" 2>&1 || rc=$?
expect "a second user cannot replace the first one's exercise" 1 "$rc" "$out/takeover" "is ana's: give each student their own, --student NAME"
rc=0
SUDO_USER=ben "$exercise" 2 --clean >"$out/takeover2" 2>&1 || rc=$?
expect "a second user cannot --clean the first one's exercise" 1 "$rc" "$out/takeover2" "is ana's"
if ip netns list | grep -q "^$LAB_PREFIX-gw"; then
    ok "the first user's namespaces are still there"
else
    bad "the first user's namespaces are gone"
fi

((failures == 0))
