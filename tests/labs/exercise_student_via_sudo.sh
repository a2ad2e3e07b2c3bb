#!/bin/bash
# The handout's line for a shared machine, as a real non-root student types it:
# `sudo labs/exercise.sh 2 --student NAME`. A throwaway user with a NOPASSWD sudoers entry
# exports LAB_PREFIX (which sudo drops) and gives --student (an argument: sudo keeps it). The
# exercise must come up as tplex-NAME-*, recorded as that user's, fail its --check (still
# broken) and be removed by --clean. The user runs a copy of labs/ (the checkout may be in
# /root, which no other user can enter).
# Usage: exercise_student_via_sudo.sh   (TPLAB: the binary, handed through sudo). Exit 4: skipped.
set -uo pipefail

repo=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
((EUID == 0)) || { echo "SKIP: needs root (to create a user and its sudoers entry)"; exit 4; }
for tool in sudo visudo useradd userdel runuser setsid timeout; do
    command -v "$tool" >/dev/null || { echo "SKIP: no $tool (Debian: apt-get install sudo)"; exit 4; }
done
tplab=$(readlink -f "${TPLAB:-$repo/build/cli/tplab}")
[[ -x "$tplab" ]] || { echo "FAIL: no tplab binary (set TPLAB)"; exit 1; }

user="tplab-ex-$$"
name="s$$"
name=${name:0:8}
sudoers="/etc/sudoers.d/$user"  # no dot in the name: sudo skips such files in sudoers.d
work=$(mktemp -d /tmp/tplab-exsudo.XXXXXX)
failures=0

cleanup() {
    "$work/labs/exercise.sh" 2 --clean --student "$name" >/dev/null 2>&1
    rm -f -- "$sudoers" "/var/lib/sudo/lectured/$user"
    id "$user" >/dev/null 2>&1 && userdel "$user" 2>/dev/null
    getent group "$user" >/dev/null && groupdel "$user" 2>/dev/null
    rm -rf -- "$work"
}
trap cleanup EXIT

ok() { printf 'PASS: %s\n' "$*"; }
bad() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}

useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user" ||
    { echo "FAIL: useradd $user failed"; exit 1; }
printf '%s ALL=(ALL) NOPASSWD: ALL\n' "$user" >"$sudoers.tmp"
chmod 0440 "$sudoers.tmp"
visudo -cqf "$sudoers.tmp" || { rm -f "$sudoers.tmp"; echo "FAIL: visudo refused the entry"; exit 1; }
mv "$sudoers.tmp" "$sudoers"
cp -a "$repo/labs" "$work/labs"
chmod -R a+rX "$work"

# as_student OUT ARGS...: sudo labs/exercise.sh ARGS as the user, with LAB_PREFIX exported, no
# terminal, under timeout. Sets rc.
as_student() {
    local out=$1
    shift
    (cd "$work" && setsid -w timeout -k 10 120 runuser -u "$user" -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        LAB_PREFIX=mine sudo -n TPLAB="$tplab" labs/exercise.sh "$@") </dev/null >"$out" 2>&1
    rc=$?
}

as_student "$work/setup" 2 --student "$name"
((rc == 4)) && { cat "$work/setup"; exit 4; }
if ((rc == 0)) && grep -q "sudo ip netns exec tplex-$name-gw bash" "$work/setup"; then
    ok "sudo labs/exercise.sh 2 --student $name sets up tplex-$name-* (LAB_PREFIX=mine stayed behind)"
else
    bad "set-up through sudo: exit $rc"
    sed 's/^/  | /' "$work/setup"
fi
owner=$(cat "/run/tplab-exercise-tplex-$name.private/owner" 2>/dev/null)
if [[ "$owner" == "$user" ]]; then ok "the exercise is recorded as $user's"; else bad "owner is '$owner', want $user"; fi

as_student "$work/check" 2 --check --student "$name"
if ((rc == 1)) && grep -q '^FAIL: .*tproxy.ip_rule' "$work/check"; then
    ok "--check --student $name through sudo grades that student's gateway (still broken)"
else
    bad "--check through sudo: exit $rc"
    sed 's/^/  | /' "$work/check"
fi

as_student "$work/clean" 2 --clean --student "$name"
if ((rc == 0)) && ! ip netns list | grep -q "^tplex-$name-"; then
    ok "--clean --student $name through sudo removes it"
else
    bad "--clean through sudo: exit $rc"
    sed 's/^/  | /' "$work/clean"
fi
((failures == 0))
