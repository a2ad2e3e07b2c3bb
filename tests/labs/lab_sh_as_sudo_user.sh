#!/usr/bin/env bash
# The README's quick start as a non-root user with sudo: `scripts/lab.sh quickstart` re-runs itself
# under sudo and hands on the LAB_* settings. A throwaway system user runs it from its own copy of
# the tree (the checkout may be in /root, which no other user can enter), three ways:
#   no sudo on PATH    -> lab.sh's one-line message, exit 1
#   no sudoers entry   -> sudo refuses (no terminal to ask a password on), non-zero, nothing runs
#   NOPASSWD entry     -> [1/3] [2/3] [3/3], the quickstart passes, run by root with the user's
#                         LAB_PREFIX and LAB_OUTPUT; nothing is left behind
#                         and tplab is installed: the user's login shell finds it (bash -lc),
#                         so do sudo (secure_path) and man; tplab lab --list lists the labs
# What the install wrote (PREFIX/bin/tplab, share/man/man1/tplab.1, share/tplab, share/doc/tplab,
# PREFIX from the build's CMakeCache) is put back as it was before the test, on every exit.
# The copy's build/ is a symlink to BUILD_DIR, so lab.sh's build step is a no-op, not a rebuild.
# Usage: lab_sh_as_sudo_user.sh SOURCE_DIR BUILD_DIR. Exit 0 pass, 1 fail, 4 skip.
set -uo pipefail

src=$(readlink -f "$1")
build=$(readlink -f "$2")
run_limit=180   # seconds for one run of lab.sh (ctest's TIMEOUT is longer, so cleanup still runs)

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: needs root (to create a user and its sudoers entry)"
    exit 4
fi
for tool in sudo visudo useradd userdel runuser setsid timeout; do
    if ! command -v "$tool" >/dev/null; then
        echo "SKIP: no $tool (Debian: apt-get install sudo; scripts/install-deps.sh installs it)"
        exit 4
    fi
done
if [ ! -x "$build/cli/tplab" ] || [ ! -f "$build/CMakeCache.txt" ]; then
    echo "FAIL: $build is not a configured build with cli/tplab in it"
    exit 1
fi

user="tplab-sudo-$$"
prefix="tplsudo$$"
sudoers="/etc/sudoers.d/$user"   # no dot in the name: sudo skips such files in sudoers.d
work=""
status=0
prefix_dir=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt" 2>/dev/null)
prefix_dir=${prefix_dir:-/usr/local}
installed_paths=("$prefix_dir/bin/tplab" "$prefix_dir/share/man/man1/tplab.1"
    "$prefix_dir/share/tplab" "$prefix_dir/share/doc/tplab")
backup=""   # a copy of those that existed before the test (restore_install puts them back)

fail() {
    echo "FAIL: $*"
    status=1
}

pass() {
    echo "PASS: $*"
}

# The namespaces of our prefix (the labs name theirs PREFIX-client, -gw, -server).
our_namespaces() {
    ip netns list 2>/dev/null | awk -v p="$prefix-" 'index($1, p) == 1 {print $1}'
}

# Processes that run (not zombies) with their cwd in, or a word of their command line under, $work.
processes_in_work() {
    local dir pid cwd
    [ -n "$work" ] || return 0
    for dir in /proc/[0-9]*; do
        pid=${dir#/proc/}
        [ "$pid" = "$$" ] && continue
        cwd=$(readlink "$dir/cwd" 2>/dev/null) || continue
        if [[ "$cwd" == "$work"* ]] || tr '\0' '\n' <"$dir/cmdline" 2>/dev/null | grep -q "^$work"; then
            echo "$pid"
        fi
    done
}

# shellcheck disable=SC2317  # run by cleanup
# restore_install: each of installed_paths as it was before the test: removed, or its backup back.
restore_install() {
    local path
    [ -n "$backup" ] || return 0
    for path in "${installed_paths[@]}"; do
        rm -rf -- "$path"
        if [ -e "$backup$path" ] || [ -L "$backup$path" ]; then
            mkdir -p -- "$(dirname "$path")"
            cp -a -- "$backup$path" "$path"
        fi
    done
    rm -rf -- "$backup"
    backup=""
}

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    local pid ns
    restore_install
    trap '' INT TERM HUP
    for pid in $(pgrep -u "$user" 2>/dev/null); do
        kill -KILL "$pid" 2>/dev/null
    done
    for ns in $(our_namespaces); do
        ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null
        ip netns del "$ns" 2>/dev/null
    done
    rm -f -- "$sudoers" "/var/lib/sudo/lectured/$user"
    if id "$user" >/dev/null 2>&1; then
        userdel "$user" 2>/dev/null || echo "cleanup: userdel $user failed" >&2
    fi
    if getent group "$user" >/dev/null; then
        groupdel "$user" 2>/dev/null
    fi
    [ -n "$work" ] && rm -rf -- "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

if [ -n "$(our_namespaces)" ]; then
    echo "FAIL: namespaces named $prefix-* exist before the test"
    exit 1
fi
if ! useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$user"; then
    echo "FAIL: useradd $user failed"
    exit 1
fi
user_uid=$(id -u "$user")
[ "$user_uid" -ne 0 ] || { echo "FAIL: $user has uid 0"; exit 1; }

# The user's copy of the tree: the files git knows (tracked or new, not ignored), as they are in
# the work tree, so uncommitted edits are tested; outside git, the two folders lab.sh reads.
work=$(mktemp -d /tmp/tplab-sudo.XXXXXX)
copy="$work/tplab"
mkdir "$copy"
if git -c safe.directory="$src" -C "$src" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -c safe.directory="$src" -C "$src" ls-files -z --cached --others --exclude-standard |
        (cd "$src" && while IFS= read -r -d '' file; do
            [ -e "$file" ] && printf '%s\0' "$file"
        done) | tar -C "$src" --null -T - -cf - | tar -C "$copy" -xf -
else
    cp -a "$src/labs" "$src/scripts" "$copy/"
fi
rm -rf -- "$copy/build"
ln -s "$build" "$copy/build"
chown -R --no-dereference "$user:" "$work"
if [ ! -x "$copy/scripts/lab.sh" ]; then
    echo "FAIL: could not copy the tree into $copy"
    exit 1
fi

# A PATH with what lab.sh needs up to its sudo check, and no sudo.
nosudo_bin="$work/bin-without-sudo"
mkdir "$nosudo_bin"
for tool in bash env readlink dirname id grep fold; do
    ln -s "$(command -v "$tool")" "$nosudo_bin/$tool"
done

# as_user OUT [ENV...]: `scripts/lab.sh quickstart` from the copy, as the user, with only the
# given environment, no terminal (setsid: sudo cannot open /dev/tty to ask for a password),
# stdin from /dev/null, under timeout. Sets rc.
as_user() {
    local out=$1
    shift
    (cd "$copy" && setsid -w timeout -k 10 "$run_limit" runuser -u "$user" -- \
        env -i HOME="$work" LANG=C.UTF-8 "$@" scripts/lab.sh quickstart) </dev/null >"$out" 2>&1
    rc=$?
    echo "---- lab.sh as $user ($*): exit $rc"
    cat "$out"
    echo "----"
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        fail "lab.sh did not finish within ${run_limit}s (a password prompt?)"
    fi
}

std_path=/usr/local/bin:/usr/bin:/bin

echo "== 1. no sudo on PATH =="
if PATH=$nosudo_bin command -v sudo >/dev/null; then
    fail "sudo is still reachable through $nosudo_bin"
fi
as_user "$work/nosudo.out" PATH="$nosudo_bin"
want="lab.sh: needs root, and there is no sudo: run it as root (su -c '$copy/scripts/lab.sh quickstart')"
got=$(cat "$work/nosudo.out")
if [ "$rc" -eq 1 ] && [ "$got" = "$want" ]; then
    pass "without sudo, lab.sh says so in one line and exits 1"
else
    fail "without sudo: want exit 1 and the one line '$want'"
fi

echo "== 2. sudo installed, no sudoers entry for $user =="
as_user "$work/refused.out" PATH="$std_path" LAB_PREFIX="$prefix"
if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] &&
    grep -Eq '^sudo: .*(password is required|not in the sudoers file|not allowed)' "$work/refused.out"; then
    pass "without a sudoers entry, sudo refuses (exit $rc) instead of waiting for a password"
else
    fail "without a sudoers entry: want sudo's refusal and a non-zero exit, got exit $rc"
fi
if grep -q '^\[1/3\]' "$work/refused.out" || [ -n "$(our_namespaces)" ]; then
    fail "without a sudoers entry, lab.sh got past sudo"
fi

echo "== 3. $user with a NOPASSWD sudoers entry =="
printf '%s ALL=(root) NOPASSWD: ALL\n' "$user" >"$sudoers"
chmod 0440 "$sudoers"
if ! visudo -cf "$sudoers" >/dev/null; then
    fail "visudo rejects $sudoers"
    exit 1
fi
output="$work/lab-output"   # does not exist yet: the lab, run by root, creates it
backup=$(mktemp -d /tmp/tplab-install-backup.XXXXXX)
for path in "${installed_paths[@]}"; do
    if [ -e "$path" ] || [ -L "$path" ]; then
        mkdir -p -- "$backup$(dirname "$path")"
        cp -a -- "$path" "$backup$path"
    fi
done
tplab_mtime=$(stat -c %Y "$build/cli/tplab")
as_user "$work/lab.out" PATH="$std_path" LAB_PREFIX="$prefix" LAB_OUTPUT="$output"
out="$work/lab.out"
if [ "$rc" -eq 4 ] && grep -q '^SKIP:' "$out"; then
    echo "SKIP: the quickstart skipped under sudo: $(grep -m1 '^SKIP:' "$out")"
    exit 4
fi
if [ "$rc" -eq 0 ]; then
    pass "lab.sh quickstart as $user (uid $user_uid) exited 0"
else
    fail "lab.sh quickstart as $user exited $rc"
fi
steps=$(grep -o '^\[[1-3]/3\]' "$out" | tr '\n' ' ')
if [ "$steps" = "[1/3] [2/3] [3/3] " ] && grep -q '^\[3/3\] running labs/quickstart.sh' "$out" &&
    grep -q '^      built tplab' "$out"; then
    pass "lab.sh showed [1/3], [2/3] (built tplab) and [3/3], in order"
else
    fail "lab.sh's steps: got '${steps}', want '[1/3] [2/3] [3/3] ' and a 'built tplab' line"
fi
summary=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$out" | tail -1)
passes=$(grep -c '^ *PASS: ' "$out")
if [[ "$summary" =~ ^([0-9]+)\ passed,\ 0\ failed$ ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] &&
    [ "${BASH_REMATCH[1]}" -eq "$passes" ] && ! grep -q '^ *FAIL: ' "$out"; then
    pass "the quickstart's summary: $summary"
else
    fail "the quickstart's summary: got '${summary:-none}' with $passes PASS lines"
fi
if grep -q "$prefix-client" "$out" && ! grep -q 'tpl-<ns>\|tpl-client' "$out"; then
    pass "LAB_PREFIX=$prefix reached the lab run by sudo"
else
    fail "the output names no namespace $prefix-client: LAB_PREFIX did not reach the lab"
fi
if [ -d "$output" ] && [ "$(stat -c %u "$output")" -eq 0 ] &&
    grep -q '"event":"accepted"' "$output/redirect.jsonl" 2>/dev/null &&
    grep -q '"event":"accepted"' "$output/tproxy.jsonl" 2>/dev/null; then
    pass "LAB_OUTPUT reached the lab: root wrote its events into $output"
else
    fail "LAB_OUTPUT: no root-owned $output with both modes' accepted events"
    ls -la "$output" 2>&1
fi
if [ "$(stat -c %Y "$build/cli/tplab")" = "$tplab_mtime" ]; then
    echo "(lab.sh's build step was a no-op: $build/cli/tplab is unchanged)"
else
    echo "(lab.sh's build step rebuilt $build/cli/tplab: the build was out of date)"
fi

echo "== tplab is installed: $prefix_dir/bin/tplab =="
# as_user_login CMD: CMD in a login shell of the user (env -i: only what /etc/profile sets).
as_user_login() {
    (cd / && runuser -u "$user" -- env -i HOME="$work" LANG=C.UTF-8 bash -lc "$1") </dev/null 2>/dev/null
}
found=$(as_user_login 'command -v tplab')
if [ "$found" = "$prefix_dir/bin/tplab" ]; then
    pass "the user's login shell finds tplab: $found"
else
    fail "bash -lc 'command -v tplab' as $user: got '${found}', want $prefix_dir/bin/tplab"
fi
# same WHAT GOT WANT: pass if GOT is WANT.
same() {
    if [ "$2" = "$3" ]; then
        pass "$1: $2"
    else
        fail "$1 as $user: got '$2', want '$3'"
    fi
}
version=$("$build/cli/tplab" --version)
same "tplab --version in a login shell" "$(as_user_login 'tplab --version')" "$version"
same "sudo tplab --version (sudo's secure_path)" "$(as_user_login 'sudo -n tplab --version')" \
    "$version"
# (Debian's /usr/local/man is a link to share/man, the path man -w prints)
man_page=$(as_user_login 'man -w tplab')
same "man -w tplab (resolved)" "$(readlink -f "$man_page")" \
    "$(readlink -f "$prefix_dir/share/man/man1/tplab.1")"
labs_listed=$(as_user_login 'tplab lab --list' | grep -cxE 'quickstart|compare')
same "tplab lab --list names quickstart and compare" "$labs_listed" 2

echo "== nothing left behind =="
left_ns=$(our_namespaces | tr '\n' ' ')
left_pids=$(processes_in_work | tr '\n' ' ')
user_pids=$(pgrep -u "$user" | tr '\n' ' ')
if [ -z "$left_ns" ] && [ -z "$left_pids" ] && [ -z "$user_pids" ]; then
    pass "no namespace named $prefix-*, no process of $user or in $work"
else
    fail "left behind: namespaces '${left_ns}', processes in $work '${left_pids}', of $user '${user_pids}'"
fi

exit "$status"
