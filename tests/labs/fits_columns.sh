#!/bin/bash
# Runs a lab as a student does and fails if any line it printed is wider than LAB_COLUMNS
# (100): what a class reads on a projector. The lab's own exit status is kept (4 = skipped).
# Usage: fits_columns.sh LAB.sh [LAB OPTIONS]
set -uo pipefail

lab=$1
shift
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$lab" "$@" 2>&1 | tee "$out"
rc=${PIPESTATUS[0]}
# Columns are characters, not bytes (python3 is one of the labs' own tools).
python3 - "$out" "${LAB_COLUMNS:-100}" <<'PY' || { ((rc == 0 || rc == 4)) && rc=1; }
import sys
path, columns = sys.argv[1], int(sys.argv[2])
wide = [(n, line) for n, line in enumerate(open(path, encoding="utf-8", errors="replace"), 1)
        if len(line.rstrip("\n").expandtabs()) > columns]
for n, line in wide:
    print(f"line {n} is {len(line.rstrip(chr(10)).expandtabs())} columns: {line.rstrip()}")
if wide:
    print(f"FAIL: {len(wide)} printed lines are wider than {columns} columns")
    sys.exit(1)
print(f"PASS: every printed line fits {columns} columns")
PY
exit "$rc"
