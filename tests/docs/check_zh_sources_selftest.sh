#!/bin/bash
# check_zh_sources.sh can fail: on a throwaway repository it must pass when the zh page is current,
# fail when the English source changes (uncommitted, then committed), fail when a zh page is
# missing or unlisted, and skip (exit 4) outside a git checkout.
set -uo pipefail
checker="$(dirname "$(readlink -f "$0")")/check_zh_sources.sh"
work=$(mktemp -d)
trap 'rm -rf -- "$work"' EXIT
failures=0

expect() {
    local want=$1 what=$2 rc=0 out
    shift 2
    out=$("$checker" "$work/repo" 2>&1) || rc=$?
    if ((rc == want)); then
        printf 'PASS: %s (exit %d)\n' "$what" "$rc"
    else
        printf 'FAIL: %s: exit %d, want %d; output:\n%s\n' "$what" "$rc" "$want" "$out"
        failures=$((failures + 1))
    fi
}

mkdir -p "$work/repo/docs/zh"
cd "$work/repo" || exit 1
git init -q . && git config user.email t@example.invalid && git config user.name test
printf '# Concepts\n' >docs/concepts.md
printf '# 概念\n' >docs/zh/concepts.md
printf '# 术语\n' >docs/zh/glossary.md
git add -A && git commit -qm one
commit=$(git rev-parse HEAD)
printf 'concepts.md docs/concepts.md %s\nglossary.md -\n' "$commit" >docs/zh/SOURCES
git add -A && git commit -qm two
expect 0 "current translation passes"

printf 'more\n' >>docs/concepts.md
expect 1 "an uncommitted change of the English source fails"
git commit -qam three
expect 1 "a committed change of the English source fails"
printf 'concepts.md docs/concepts.md %s\nglossary.md -\n' "$(git rev-parse HEAD)" >docs/zh/SOURCES
expect 0 "re-recorded after updating the translation passes"

printf '# 新\n' >docs/zh/new.md
expect 1 "a zh page not listed in SOURCES fails"
rm docs/zh/new.md docs/zh/concepts.md
expect 1 "a listed zh page that is missing fails"
git checkout -q -- docs/zh/concepts.md

rm -rf .git
expect 4 "outside a git checkout it skips"
((failures == 0))
