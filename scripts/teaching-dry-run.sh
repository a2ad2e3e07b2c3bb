#!/usr/bin/env bash
# teaching-dry-run: time each block of the instructor's run sheet by running its lab commands.
#
# Reads the run sheet's blocks (`## N. title (a-b)` headings, a-b the planned minutes) and the
# ```sh code blocks under each. Runs every line of those that starts a lab (`tplab lab ...`,
# after an optional `sudo` and VAR=value settings; a trailing `# comment` is dropped) in the
# order of the page, times it, and prints per block: the planned minutes, the seconds its
# commands took, and the minutes left for talk. The other lines (terminal B's `ip netns exec
# tpl-gw ...`) need a paused lab and take a second each: they are talk time, not run.
# The commands run as printed, except:
#   - LAB_PAUSE=... is dropped and LAB_PAUSE unset: the pause is the instructor's talk;
#   - `sudo` is dropped (this runs as root already, and sudo would reset PATH and LAB_PREFIX);
#   - `--out /tmp/X` becomes `--out SCRATCH/X` (a temp dir of this run, removed at the end: the
#     run leaves nothing behind and overwrites nobody's /tmp/cmp);
#   - LAB_PREFIX is this run's own (default tpldry), so its namespaces collide with nobody's.
# Every command must exit 0, except `tplab lab exercise N --check`, which must exit 1 (nobody
# fixed the exercise). An exercise left set up is removed at the end (`--clean`).
# Fails when a block's commands take more than half of its planned time, or a command fails.
#
# It is in scripts/, not tests/: an instructor runs it on the machine they will teach from, the
# day before, to see the table for that machine; the test only runs it.
# Usage: sudo scripts/teaching-dry-run.sh [RUN_SHEET]   (default docs/teaching/run-sheet.md)
#   tplab must be on PATH; if it is not, or TPLAB=/path/to/tplab is set, that binary (default:
#   the repository's build/cli/tplab) is put first on PATH as `tplab` (labs then run from the
#   repository's labs/).
# Takes about 2 minutes (77 s measured on 2 quiet cores, 98 s at load average 6). Exit 0 every
# block fits, 1 a block does not or a command failed, 2 bad input, 4 skipped (no root, no tplab).
# ctest: teaching_run_sheet_blocks_fit_their_time (label teaching, not run by scripts/test.sh).
set -uo pipefail

repo=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
sheet=${1:-$repo/docs/teaching/run-sheet.md}
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
fi
if (($# > 1)); then
    echo "ERROR: one argument at most, the run sheet (see $0 --help)" >&2
    exit 2
elif [[ "$sheet" == -* ]]; then
    echo "ERROR: unknown option $sheet (see $0 --help)" >&2
    exit 2
fi
[[ -f "$sheet" ]] || { echo "ERROR: no run sheet at $sheet" >&2; exit 2; }
if [[ "$(id -u)" -ne 0 ]]; then
    echo "SKIP: the labs need root (sudo $0)"
    exit 4
fi
: "${LAB_PREFIX:=tpldry}"
[[ "$LAB_PREFIX" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,11}$ ]] ||
    { echo "ERROR: LAB_PREFIX '$LAB_PREFIX': 1-12 of A-Z a-z 0-9 - _" >&2; exit 2; }
export LAB_PREFIX
unset LAB_PAUSE LAB_OUTPUT

scratch=$(mktemp -d /tmp/teaching-dry-run.XXXXXX)
exercises_seen=()
# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
    local n
    for n in "${exercises_seen[@]+"${exercises_seen[@]}"}"; do
        tplab lab exercise "$n" --clean >/dev/null 2>&1 </dev/null
    done
    rm -rf -- "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -n "${TPLAB:-}" ]] || ! command -v tplab >/dev/null; then
    tplab_bin=$(readlink -f "${TPLAB:-$repo/build/cli/tplab}")
    if [[ ! -x "$tplab_bin" ]]; then
        echo "SKIP: no tplab on PATH and no $tplab_bin (build it, or set TPLAB)"
        exit 4
    fi
    mkdir "$scratch/bin"
    ln -s "$tplab_bin" "$scratch/bin/tplab"
    export PATH="$scratch/bin:$PATH"
    export TPLAB="$tplab_bin"
fi
tplab lab --list >/dev/null 2>&1 || { echo "SKIP: $(command -v tplab) has no 'lab' subcommand"; exit 4; }

# The blocks and their commands: "B<TAB>N<TAB>PLANNED<TAB>TITLE" then "C<TAB>N<TAB>COMMAND".
parse() {
    /usr/bin/python3 - "$1" <<'EOF'
import re, sys
heading = re.compile(r"^## (\d+)\. (.*) \((\d+)-(\d+)\)\s*$")
lab = re.compile(r"^(?:sudo\s+)?(?:[A-Z_][A-Z0-9_]*=\S*\s+)*tplab\s+lab(?:\s|$)")
block, fence = None, None
for line in open(sys.argv[1], encoding="utf-8"):
    line = line.rstrip("\n")
    if line.startswith("```"):
        fence = None if fence is not None else line[3:].strip()
        continue
    if fence is None:
        m = heading.match(line)
        if m:
            block = m.group(1)
            print(f"B\t{block}\t{int(m.group(4)) - int(m.group(3))}\t{m.group(2)}")
        elif line.startswith("## "):
            block = None
        continue
    if block is not None and fence == "sh" and lab.match(line.strip()):
        command = re.sub(r"\s+#.*$", "", line.strip())
        print(f"C\t{block}\t{command}")
EOF
}

# as_run COMMAND: the command as this script runs it (see the top of the file).
as_run() {
    local words=() word out=()
    read -ra words <<<"$1"
    for word in "${words[@]}"; do
        case "$word" in
        sudo | LAB_PAUSE=*) continue ;;
        /tmp/*) word="$scratch/${word#/tmp/}" ;;
        esac
        out+=("$word")
    done
    printf '%s' "${out[*]}"
}

# minutes MS: MS milliseconds as minutes with one decimal (negative when over).
minutes() { awk -v ms="$1" 'BEGIN { printf "%.1f", ms / 60000 }'; }

declare -A planned=() title=() seconds=()
order=()
failures=0
log="$scratch/commands.log"
while IFS=$'\t' read -r kind n rest; do
    if [[ "$kind" == B ]]; then
        order+=("$n")
        planned[$n]=${rest%%$'\t'*}
        title[$n]=${rest#*$'\t'}
        seconds[$n]=0
        continue
    fi
    command=$(as_run "$rest")
    expect=0
    [[ " $command " == *" --check "* ]] && expect=1
    if [[ "$command" =~ tplab\ lab\ exercise\ ([0-9]+) ]]; then
        exercises_seen+=("${BASH_REMATCH[1]}")
    fi
    printf '[block %s] %s\n' "$n" "$command"
    start=$(date +%s%N)
    rc=0
    (cd "$scratch" && timeout 600 bash -c "$command") </dev/null >"$log" 2>&1 || rc=$?
    took=$((($(date +%s%N) - start) / 1000000))
    seconds[$n]=$((${seconds[$n]} + took))
    printf '           exit %d (want %d), %s s: %s\n' "$rc" "$expect" \
        "$(awk -v ms="$took" 'BEGIN { printf "%.1f", ms / 1000 }')" \
        "$(grep -v '^[[:space:]]*$' "$log" | tail -n 1 | cut -c1-60)"
    if ((rc != expect)); then
        printf 'FAIL: block %s: %s exited %d, not %d; its last lines:\n' "$n" "$command" "$rc" "$expect"
        tail -n 15 "$log" | sed 's/^/    /'
        failures=$((failures + 1))
    fi
done < <(parse "$sheet")

if ((${#order[@]} == 0)); then
    echo "FAIL: no '## N. title (a-b)' blocks in $sheet"
    exit 1
fi

printf '\n| block | planned min | commands s | min left for talk |\n|---|---:|---:|---:|\n'
total_planned=0 total_ms=0
for n in "${order[@]}"; do
    ms=${seconds[$n]}
    plan=${planned[$n]}
    total_planned=$((total_planned + plan))
    total_ms=$((total_ms + ms))
    printf '| %s. %s | %d | %d | %s |\n' "$n" "${title[$n]}" "$plan" $(((ms + 500) / 1000)) \
        "$(minutes $((plan * 60000 - ms)))"
    if ((ms * 2 > plan * 60000)); then
        printf 'FAIL: block %s takes %d s of commands, more than half of its %d minutes\n' \
            "$n" $(((ms + 500) / 1000)) "$plan" >&2
        failures=$((failures + 1))
    fi
done
printf '| total | %d | %d | %s |\n' "$total_planned" $(((total_ms + 500) / 1000)) \
    "$(minutes $((total_planned * 60000 - total_ms)))"
printf '\n(%s, %s CPUs, load average %s, tplab %s)\n' "$(date -u +%F)" "$(nproc)" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$(readlink -f "$(command -v tplab)")"
((failures == 0))
