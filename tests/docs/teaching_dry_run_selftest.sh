#!/usr/bin/env bash
# scripts/teaching-dry-run.sh fails a block whose commands take more than half of its minutes,
# passes one with time to spare, and refuses bad input (exit 2). The blocks' one command lists
# the exercises: no namespace is made. Usage: teaching_dry_run_selftest.sh REPO_DIR (TPLAB set).
# Exit 0 pass, 1 fail, 4 skipped (the dry run's own skip: not root, no tplab).
set -uo pipefail
repo=${1:?usage: teaching_dry_run_selftest.sh REPO_DIR}
dry="$repo/scripts/teaching-dry-run.sh"
scratch=$(mktemp -d)
trap 'rm -rf -- "$scratch"' EXIT
failures=0
fail() {
    printf 'FAIL: %s\n' "$*"
    failures=$((failures + 1))
}

# sheet FILE MINUTES: a run sheet of one block of MINUTES minutes (0: no time at all).
sheet() {
    # shellcheck disable=SC2016  # the backquotes are the markdown fence, not a command
    printf '# Run sheet\n\n## 1. Listing the exercises (0-%d)\n\n```sh\n%s\n```\n' "$2" \
        'sudo tplab lab exercise --list      # the exercises' >"$1"
}

sheet "$scratch/fits.md" 5
out=$("$dry" "$scratch/fits.md" 2>&1)
rc=$?
((rc == 4)) && { printf 'SKIP: %s\n' "$out"; exit 4; }
if ((rc == 0)) && grep -q '^| 1. Listing the exercises | 5 | 0 | 5.0 |$' <<<"$out"; then
    echo "PASS: a block with time to spare passes, its row in the table"
else
    fail "a 5-minute block listing the exercises: exit $rc: $out"
fi

sheet "$scratch/overfull.md" 0
out=$("$dry" "$scratch/overfull.md" 2>&1)
rc=$?
if ((rc == 1)) && grep -q 'FAIL: block 1 takes .* more than half of its 0 minutes' <<<"$out"; then
    echo "PASS: a block whose commands take more than half of its time fails"
else
    fail "a 0-minute block: exit $rc, want 1 and a FAIL line: $out"
fi

for args in "a b" "--frobnicate" "$scratch/missing.md"; do
    # shellcheck disable=SC2086  # the words of args are the arguments
    out=$("$dry" $args 2>&1)
    rc=$?
    if ((rc == 2)) && [[ $(wc -l <<<"$out") -eq 1 && "$out" == ERROR:* ]]; then
        echo "PASS: teaching-dry-run.sh $args -> exit 2: $out"
    else
        fail "teaching-dry-run.sh $args: exit $rc, want 2 and one ERROR line: $out"
    fi
done
((failures == 0))
