# shellcheck shell=bash
# Part of labs/lib.sh, which sources every part in order (source lib.sh, not this file).
# tplab rules and tplab doctor in a namespace (applied rules are undone on exit), server logs.

#### tplab rules, tplab doctor, server logs ####################################

# show_rules NS ARG...: print the rule set `tplab rules ARG...` generates for NS, every line with
# its reason (nothing is applied).
show_rules() {
    local ns=$1
    shift
    run "$ns" tplab rules "$@" | lab_indent
}

# apply_rules NS ARG...: `tplab rules ARG... --apply` in NS: it prints each command it runs.
apply_rules() {
    local ns=$1
    shift
    lab_applied_rules+=("$ns $*")  # first: an interrupted --apply must be undone too
    run "$ns" tplab rules "$@" --apply | lab_indent
}

# tplab rules --apply keeps a small record per namespace (in /run/tplab) so --remove can undo
# exactly what it did: remove the rules before the namespace goes, or the record outlives it.
lab_undo_rules() {
    local ns=$1 i entry
    for i in "${!lab_applied_rules[@]}"; do
        entry=${lab_applied_rules[$i]}
        [[ "${entry%% *}" == "$ns" ]] || continue
        # shellcheck disable=SC2086  # the recorded arguments are flags without spaces
        lab_in "$ns" tplab rules ${entry#* } --remove >/dev/null 2>&1
        unset 'lab_applied_rules[i]'
    done
}

# doctor_json NS FILE ARG...: `tplab doctor ARG... --json --all` in NS, the JSON to FILE; returns
# the doctor's exit status (0 ok, 1 warn, 3 fail) without stopping the lab.
doctor_json() {
    local ns=$1 file=$2 rc=0
    shift 2
    show_cmd "$ns" " >$file" tplab doctor "$@" --json --all
    lab_in "$ns" tplab doctor "$@" --json --all >"$file" 2>&1 || rc=$?
    return "$rc"
}

# doctor_text NS ARG...: `tplab doctor ARG...` in NS as a person reads it; never fails the lab.
doctor_text() {
    local ns=$1
    shift
    run "$ns" tplab doctor "$@" 2>&1 | lab_indent || true
}

# doctor_severity FILE ID: the severity of the doctor finding ID in FILE (doctor --json), or
# "absent" if the doctor did not report it.
doctor_severity() {
    "$lab_py" - "$1" "$2" <<'EOF'
import json, sys
path, want = sys.argv[1:3]
try:
    data = json.load(open(path))
except (OSError, ValueError) as e:
    print(f"<unreadable: {e}>"); sys.exit(0)
items = data.get("findings", data.get("checks", [])) if isinstance(data, dict) else data
for f in items:
    if str(f.get("id", "")) == want:
        print(str(f.get("severity", f.get("level", "?"))).lower()); break
else:
    print("absent")
EOF
}

# server_log_peers LOGFILE: the distinct peer addresses (without port) the name server logged,
# one per line, sorted: who the server saw the requests come from.
server_log_peers() {
    sed -n 's/^[^:]*: peer=\(.*\):[0-9]* local=.*/\1/p' "$1" | tr -d '[]' | sort -u
}
