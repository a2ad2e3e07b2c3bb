#!/bin/bash
# The Chinese pages stay in step with their English sources. docs/zh/SOURCES lists, per zh page,
# the English page it translates and the git commit of the English text it was translated from.
# Fails when a listed page is missing, when a page under docs/zh is not listed, or when the English
# source differs from that commit (a later commit, or an uncommitted edit). Outside a git checkout
# (or in a shallow clone without that commit) the age cannot be told: that part is skipped, with
# the reason, and the exit status is 4 if nothing else failed.
# Usage: check_zh_sources.sh [REPO_ROOT]   (default: the repo this script is in)
set -uo pipefail

root=${1:-$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)}
sources="$root/docs/zh/SOURCES"
failures=0 checked=0 skipped=""

fail() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}

[[ -f "$sources" ]] || { printf 'FAIL: %s is missing\n' "$sources"; exit 1; }

git_ok=1
if ! git -C "$root" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git_ok=0
    skipped="$root is not a git checkout: cannot tell whether a zh page is older than its English source"
fi

declare -A listed=()
line_no=0
while IFS= read -r line || [[ -n "$line" ]]; do
    line_no=$((line_no + 1))
    [[ "$line" =~ ^[[:space:]]*(#|$) ]] && continue
    read -r zh en commit extra <<<"$line"
    if [[ -z "$en" || -n "$extra" || ( "$en" != - && -z "$commit" ) ]]; then
        fail "SOURCES line $line_no: want 'ZH_PAGE ENGLISH_SOURCE COMMIT' (or 'ZH_PAGE -' for a page written in Chinese): $line"
        continue
    fi
    listed[$zh]=1
    [[ -f "$root/docs/zh/$zh" ]] || fail "docs/zh/$zh is listed in SOURCES but missing"
    [[ "$en" == - ]] && continue
    if [[ ! -f "$root/$en" ]]; then
        fail "docs/zh/$zh: its English source $en is missing"
        continue
    fi
    checked=$((checked + 1))
    ((git_ok)) || continue
    if ! git -C "$root" cat-file -e "$commit^{commit}" 2>/dev/null; then
        if [[ "$(git -C "$root" rev-parse --is-shallow-repository 2>/dev/null)" == true ]]; then
            skipped="shallow clone: commit $commit (of $en) is not in it"
        else
            fail "docs/zh/$zh: SOURCES names commit $commit for $en, which this repository does not have"
        fi
        continue
    fi
    if ! git -C "$root" diff --quiet "$commit" -- "$en"; then
        fail "docs/zh/$zh is older than $en: the English changed since $commit (git diff $commit -- $en); update the translation, then SOURCES"
    fi
done <"$sources"

while IFS= read -r page; do
    page=${page#"$root/docs/zh/"}
    [[ -n "${listed[$page]:-}" ]] || fail "docs/zh/$page is not listed in docs/zh/SOURCES"
done < <(find "$root/docs/zh" -name '*.md' | sort)

if ((failures > 0)); then
    printf '%d problem(s) with the zh pages\n' "$failures"
    exit 1
fi
if [[ -n "$skipped" ]]; then
    printf 'SKIP: %s (%d translated pages exist, with their English sources)\n' "$skipped" "$checked"
    exit 4
fi
printf 'PASS: %d translated zh pages exist and are as new as their English sources\n' "$checked"
