#!/bin/bash
# exercise: break-and-fix exercises. Each builds the standard client-gateway-server network,
# sets the gateway up as a transparent proxy, breaks it in one way, leaves it broken and tells
# you only the symptom. Find the fault (iptables-save, ip rule, ip route show table all, sysctl,
# ss -ltnp, tplab doctor, tcpdump...), fix it in place, and let --check grade the fix.
#
#  +-----------------+      +-----------------------------------+      +------------------+
#  | tplex-client    |      | tplex-gw                          |      | tplex-server     |
#  |  curl :80       |      |  a transparent proxy, broken      |      |  HTTP :80        |
#  |                 |      |  in one way                       |      |  "served by      |
#  |                 |      |                                   |      |   server"        |
#  |       eth0      |------| veth-c                     veth-s |------| eth0             |
#  | 192.0.2.2       |      | 192.0.2.1            198.51.100.1 |      | 198.51.100.2     |
#  +-----------------+      +-----------------------------------+      +------------------+
#
# Usage: sudo labs/exercise.sh --list             the exercises
#        sudo labs/exercise.sh N                  build exercise N and print its symptom
#        sudo labs/exercise.sh N --hint           a hint: the first, then the second, the third
#        sudo labs/exercise.sh N --check          grade your fix on real traffic
#        sudo labs/exercise.sh N --clean          remove exercise N (namespaces, processes, files)
#   Installed, the same with sudo tplab lab exercise ... (and then it prints its commands so).
#   --student NAME (before or after N; NAME: 1-8 of a-z 0-9) gives each student of a shared
#   machine their own exercise: namespaces tplex-NAME-client, -gw, -server, files, hints. Give
#   it to every command: sudo labs/exercise.sh 2 --student ana, ... 2 --check --student ana.
# Work in the namespaces with: sudo ip netns exec tplex-gw bash   (tplex-client, tplex-server)
# The namespaces are PREFIX-client, -gw, -server, where PREFIX is LAB_PREFIX (default tplex),
# or LAB_PREFIX-NAME with --student NAME. The exercise's files (server log, proxy log and
# events, relay.py) are in /run/tplab-exercise-PREFIX/. Processes of an exercise end by
# themselves after EXERCISE_TIMEOUT seconds (default 14400, four hours).
# --check sends requests with a fresh random token and passes only on evidence: the real server
# answered with the token, tplab proxy's events (its --events file) show the connection in the
# exercise's mode with the original destination, and the server saw the expected peer.
# Exit: 0 set up / solved / cleaned, 1 not solved yet (or setup failed), 2 bad input, 4 skipped.
# Docs: docs/teaching/exercises.md.

set -euo pipefail

# How the user ran this script, for the commands it prints: "tplab lab exercise" when run as
# `tplab lab exercise ...` (cli/cmd_lab.cpp sets TPLAB_LAB_COMMAND), else the script's own path.
ex_self="$0"
[[ "${TPLAB_LAB_COMMAND:-}" == "tplab lab exercise" ]] && ex_self="tplab lab exercise"

ex_usage_error() {
    printf 'ERROR: %s (see %s --help)\n' "$1" "$ex_self" >&2
    exit 2
}

# --student NAME is read before lib.sh, which names the namespaces after LAB_PREFIX. It is an
# argument, not an environment variable, so it survives sudo.
ex_student=""
ex_args=()
while (($# > 0)); do
    case "$1" in
    --student | --student=*)
        if [[ "$1" == --student ]]; then
            (($# > 1)) || ex_usage_error "--student needs a name"
            value=$2
            shift
        else
            value=${1#--student=}
        fi
        [[ "$value" =~ ^[a-z0-9]{1,8}$ ]] ||
            ex_usage_error "--student '$value': a name is 1-8 characters of a-z and 0-9"
        [[ -z "$ex_student" || "$ex_student" == "$value" ]] ||
            ex_usage_error "one --student at a time (got $ex_student and $value)"
        ex_student=$value
        ;;
    *) ex_args+=("$1") ;;
    esac
    shift
done
set -- "${ex_args[@]+"${ex_args[@]}"}"

: "${LAB_PREFIX:=tplex}"
# It names namespaces and directories under /run that --clean removes: letters, digits, - and _.
[[ "$LAB_PREFIX" =~ ^[A-Za-z0-9][A-Za-z0-9_-]{0,19}$ ]] ||
    ex_usage_error "LAB_PREFIX '$LAB_PREFIX': 1-20 characters of A-Z a-z 0-9 - _, starting with a letter or digit"
[[ -z "$ex_student" ]] || LAB_PREFIX="$LAB_PREFIX-$ex_student"
: "${EXERCISE_TIMEOUT:=14400}"
# What the exercise runs (tplab proxy, tplab doctor) knows it is in an exercise: doctor then
# names a fault without printing the command that fixes it.
export TPLAB_EXERCISE=1
ex_state_dir="/run/tplab-exercise-${LAB_PREFIX}"
# Root's own files for the exercise, out of the students' directory (mode 0700): the setup's
# commands (they give the fault away), the hint ladder's state, the check's scratch files.
ex_private_dir="/run/tplab-exercise-${LAB_PREFIX}.private"
LAB_OUTPUT=$ex_state_dir  # lib.sh keeps this directory (it is the exercise's work directory)
LAB_TIMEOUT=$EXERCISE_TIMEOUT

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

ex_home="$lab_dir/exercises"
ex_title="" ex_symptom="" ex_name="" ex_hints=()  # set by the exercise's file (ex_load)
ex_dir=$ex_state_dir

# shellcheck source=labs/exercises/common.sh
source "$ex_home/common.sh"

# ex_file N: the definition file of exercise N, or nothing.
ex_file() {
    local f
    for f in "$ex_home/$1"-*.sh; do
        [[ -f "$f" ]] && printf '%s' "$f" && return 0
    done
    return 1
}

ex_numbers() {
    local f
    for f in "$ex_home"/[0-9]*-*.sh; do
        f=${f##*/}
        printf '%s\n' "${f%%-*}"
    done | sort -n
}

# ex_load N: source exercise N's definition (ex_title, ex_mode, ex_symptom, ex_setup, ex_check).
ex_load() {
    local file
    file=$(ex_file "$1") || ex_usage_error "no exercise $1: $ex_self --list shows them"
    # shellcheck source=/dev/null
    source "$file"
    ex_name=${file##*/}
    ex_name=${ex_name%.sh}
}

ex_list() {
    local n file
    for n in $(ex_numbers); do
        file=$(ex_file "$n")
        (
            # shellcheck source=/dev/null
            source "$file"
            printf '%2s  %-28s %s\n' "$n" "$(basename "${file%.sh}" | cut -d- -f2-)" "$ex_title"
        )
    done
}

# ex_current: the number of the exercise set up with this prefix, or nothing.
ex_current() {
    [[ -f "$ex_private_dir/exercise" ]] && cat "$ex_private_dir/exercise"
    return 0
}

# ex_who: the user running this (the one behind sudo), to tell students apart.
ex_who() {
    printf '%s' "${SUDO_USER:-${USER:-root}}"
}

# ex_student_hint: how to name this student's exercise in a command (nothing, or --student NAME).
ex_student_hint() {
    [[ -n "$ex_student" ]] && printf ' --student %s' "$ex_student"
    return 0
}

# ex_teardown: stop everything in the exercise's namespaces, drop the record tplab rules
# --apply may have kept for the gateway (it is keyed by the namespace's cookie and would outlive
# it), delete the namespaces and the exercise's directories.
ex_teardown() {
    local ns cookie
    for ns in "$ns_client" "$ns_gw" "$ns_server"; do
        lab_ns_exists "$ns" || continue
        if [[ "$ns" == "$ns_gw" ]]; then
            cookie=$(ip netns exec "$ns" "$lab_py" -c '
import socket, struct
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
print(struct.unpack("Q", s.getsockopt(socket.SOL_SOCKET, 71, 8))[0])' 2>/dev/null || true)
            [[ -n "$cookie" ]] && rm -f "/run/tplab/rules-net-cookie$cookie.state"
        fi
        lab_ns_kill_all "$ns"
        ip netns del "$ns" 2>/dev/null || true
    done
    rm -rf -- "$ex_state_dir" "$ex_private_dir"
}

# ex_guard_owner: stop (exit 1) if the exercise under this prefix was set up by another user:
# one student's set-up or --clean must not remove another's. Root itself (no sudo: the
# instructor) may.
ex_guard_owner() {
    local owner who
    owner=$(cat "$ex_private_dir/owner" 2>/dev/null || true)
    who=$(ex_who)
    if [[ -n "$owner" && "$owner" != "$who" && "$who" != root ]]; then
        die "exercise $(ex_current) (prefix $LAB_PREFIX) is $owner's: give each student their own, --student NAME"
    fi
}

ex_setup_run() {
    local n=$1 current me
    require_root
    require_tool ip ss iptables curl timeout python3
    use_tplab >/dev/null
    lab_lock
    current=$(ex_current)
    ex_guard_owner
    if [[ -n "$current" ]] || lab_ns_exists "$ns_gw"; then
        log "exercise ${current:-?} was still set up with prefix $LAB_PREFIX: removing it first"
        ex_teardown
    fi
    mkdir -p "$ex_state_dir"
    chmod 0755 "$ex_state_dir"
    (umask 077 && mkdir -p "$ex_private_dir")
    chmod 0700 "$ex_private_dir"
    init_workdir
    defer rm -rf -- "$ex_state_dir" "$ex_private_dir"  # on a failure before the end
    log "exercise $n: $ex_title"
    log "building it (prefix $LAB_PREFIX)..."
    # The setup's commands would give the fault away: they go to a root-only file, and so does
    # what the background jobs inherit as fds 3 and 4 (lib.sh's copies of stdout and stderr),
    # so no job holds the caller's terminal or pipe open: `exercise.sh N | tee` returns.
    (umask 077 && : >>"$ex_private_dir/setup.log")
    exec 3>>"$ex_private_dir/setup.log" 4>>"$ex_private_dir/setup.log"
    use_family ipv4
    build_topology >&3
    ex_start_server "$ns_server" server "$lab_http_port" server.http.log
    ex_setup
    exec 3>&1 4>&2
    ex_who >"$ex_private_dir/owner"
    printf '%s\n' "$n" >"$ex_private_dir/exercise"
    # Set up: from here on the namespaces and their processes must outlive this script.
    lab_pids=() lab_ns_list=() lab_deferred=() lab_applied_rules=()
    me="sudo $ex_self $n$(ex_student_hint)"
    cat <<EOF

Symptom:
$(printf '%s\n' "$ex_symptom" | sed 's/^/  /')

Inspect and fix the gateway:  sudo ip netns exec $ns_gw bash
Try it from the client:       sudo ip netns exec $ns_client curl -sS -m 3 http://$server_ip4/
This exercise's files:        $ex_state_dir
Stuck? A hint:                $me --hint
When you think it is fixed:   $me --check
To remove it:                 $me --clean
EOF
}

# ex_require_current N ACTION: exit 2 unless exercise N is the one set up with this prefix.
ex_require_current() {
    local n=$1 action=$2 current
    current=$(ex_current)
    if [[ -z "$current" ]]; then
        ex_usage_error "no exercise is set up with prefix $LAB_PREFIX: run $ex_self $n$(ex_student_hint) first"
    elif [[ "$current" != "$n" ]]; then
        ex_usage_error "exercise $current is set up with prefix $LAB_PREFIX, not $n: $ex_self $current$(ex_student_hint) $action (another student's? give --student NAME)"
    fi
}

ex_check_run() {
    local n=$1
    require_root
    use_tplab >/dev/null
    lab_lock
    ex_require_current "$n" --check
    lab_ns_exists "$ns_gw" || ex_usage_error "exercise $n's namespace $ns_gw is gone: run $ex_self $n again"
    cd "$ex_state_dir"
    use_family ipv4
    log "checking exercise $n: $ex_title"
    # Every check prints its own PASS or FAIL line; none may end --check silently, so the checks
    # run with errexit off (a command failing inside them is a FAIL of that check, never an exit).
    ex_check || true
    if ((lab_pass_count + lab_fail_count == 0)); then
        ex_fail "exercise $n: the check found nothing to grade"
    fi
    printf '\n%d passed, %d failed\n' "$lab_pass_count" "$lab_fail_count"
    if ((lab_fail_count > 0)); then
        log "exercise $n: not solved yet (stuck? sudo $ex_self $n$(ex_student_hint) --hint)"
        exit 1
    fi
    log "exercise $n: solved"
    exit 0
}

# ex_hint_run N: the next hint of exercise N's ladder (how many were given is kept per prefix,
# in the root-only directory); past the last, the last again.
ex_hint_run() {
    local n=$1 given total no_fix hint
    require_root
    lab_lock
    ex_require_current "$n" --hint
    total=${#ex_hints[@]}
    given=$(cat "$ex_private_dir/hints" 2>/dev/null || true)
    [[ "$given" =~ ^[0-9]+$ ]] || given=0
    ((given < total)) && given=$((given + 1))
    printf '%s\n' "$given" >"$ex_private_dir/hints"
    no_fix=""
    if tplab_bin >/dev/null 2>&1; then
        use_tplab >/dev/null
        no_fix=$(ex_doctor_no_fix)
    fi
    hint=${ex_hints[given - 1]}
    # The doctor a hint suggests runs in exercise mode too: --no-fix where this tplab has it, else
    # TPLAB_EXERCISE=1 in its environment (the same switch, for a tplab that reads it).
    if [[ -n "$no_fix" ]]; then
        hint=${hint//\{doctor\}/tplab doctor $no_fix}
    else
        hint=${hint//\{doctor\}/TPLAB_EXERCISE=1 tplab doctor}
    fi
    printf 'Hint %d of %d for exercise %d:\n' "$given" "$total" "$n"
    printf '%s\n' "$hint" | fold -s -w 96 | sed 's/ *$//; s/^/  /'
    printf '(on the gateway: sudo ip netns exec %s bash)\n' "$ns_gw"
    if ((given == total)); then
        printf 'That is the last hint. --check shows what the traffic does now.\n'
    fi
}

ex_clean_run() {
    local n=$1 current
    require_root
    lab_lock
    current=$(ex_current)
    if [[ -n "$current" && "$current" != "$n" ]]; then
        ex_usage_error "exercise $current is set up, not $n: $ex_self $current$(ex_student_hint) --clean removes it"
    fi
    ex_guard_owner
    if [[ -z "$current" ]] && ! lab_ns_exists "$ns_gw"; then
        log "nothing to clean: no exercise is set up with prefix $LAB_PREFIX"
        exit 0
    fi
    ex_teardown
    log "exercise $n removed (namespaces $ns_client, $ns_gw, $ns_server)"
}

main() {
    local n="" action=setup
    (($# > 0)) || ex_usage_error "give an exercise number, or --list"
    while (($# > 0)); do
        case "$1" in
        -h | --help)
            lab_usage
            exit 0
            ;;
        --list)
            ex_list
            exit 0
            ;;
        --check | --clean | --hint)
            [[ "$action" == setup ]] || ex_usage_error "one action at a time (got --$action and $1)"
            action=${1#--}
            ;;
        [0-9] | [0-9][0-9])
            [[ -z "$n" ]] || ex_usage_error "one exercise at a time (got $n and $1)"
            n=$1
            ;;
        *) ex_usage_error "unknown argument '$1'" ;;
        esac
        shift
    done
    [[ -n "$n" ]] || ex_usage_error "which exercise? give its number ($ex_self --list)"
    ex_load "$n"
    case "$action" in
    setup) ex_setup_run "$n" ;;
    check) ex_check_run "$n" ;;
    clean) ex_clean_run "$n" ;;
    hint) ex_hint_run "$n" ;;
    esac
}

main "$@"
