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
# Usage: sudo labs/exercise.sh --list        the exercises
#        sudo labs/exercise.sh N             build exercise N and print its symptom
#        sudo labs/exercise.sh N --check     grade your fix: tplab doctor and real flows
#        sudo labs/exercise.sh N --clean     remove exercise N (namespaces, processes, files)
# Work in the namespaces with: sudo ip netns exec tplex-gw bash   (tplex-client, tplex-server)
# The namespaces are LAB_PREFIX-client, -gw, -server (LAB_PREFIX defaults to tplex); the
# exercise's files (server log, proxy log and events, relay.py) are in
# /run/tplab-exercise-LAB_PREFIX/. Processes of an exercise end by themselves after
# EXERCISE_TIMEOUT seconds (default 14400, four hours).
# Exit: 0 set up / solved / cleaned, 1 not solved yet (or setup failed), 2 bad input, 4 skipped.
# Solutions: docs/teaching/solutions.md. Docs: docs/teaching/exercises.md.

set -euo pipefail

: "${LAB_PREFIX:=tplex}"
: "${EXERCISE_TIMEOUT:=14400}"
ex_state_dir="/run/tplab-exercise-${LAB_PREFIX}"
LAB_OUTPUT=$ex_state_dir  # lib.sh keeps this directory (it is the exercise's work directory)
LAB_TIMEOUT=$EXERCISE_TIMEOUT

# shellcheck source=labs/lib.sh
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh"

ex_home="$lab_dir/exercises"
ex_title="" ex_symptom="" ex_name=""  # set by the exercise's file (ex_load)
ex_dir=$ex_state_dir

# shellcheck source=labs/exercises/common.sh
source "$ex_home/common.sh"

ex_usage_error() {
    printf 'ERROR: %s (see %s --help)\n' "$1" "$0" >&2
    exit 2
}

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
    file=$(ex_file "$1") || ex_usage_error "no exercise $1: $0 --list shows them"
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

# ex_current: the number of the exercise set up with this LAB_PREFIX, or nothing.
ex_current() {
    [[ -f "$ex_state_dir/exercise" ]] && cat "$ex_state_dir/exercise"
    return 0
}

# ex_teardown: stop everything in the exercise's namespaces, drop the record tplab rules
# --apply may have kept for the gateway (it is keyed by the namespace's cookie and would outlive
# it), delete the namespaces and the state directory.
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
    rm -rf -- "$ex_state_dir"
}

ex_setup_run() {
    local n=$1 current
    require_root
    require_tool ip ss iptables curl socat timeout python3
    use_tplab >/dev/null
    lab_lock
    current=$(ex_current)
    if [[ -n "$current" ]] || lab_ns_exists "$ns_gw"; then
        log "exercise ${current:-?} was still set up with LAB_PREFIX=$LAB_PREFIX: removing it first"
        ex_teardown
    fi
    mkdir -p "$ex_state_dir"
    chmod 0755 "$ex_state_dir"
    init_workdir
    defer rm -rf -- "$ex_state_dir"  # on any failure before the end; the success path keeps it
    log "exercise $n: $ex_title"
    log "building it (LAB_PREFIX=$LAB_PREFIX)..."
    # The setup's commands would give the fault away: they go to a file, for the instructor.
    exec 3>>"$ex_state_dir/.setup.log"
    use_family ipv4
    build_topology >&3
    start_name_server "$ns_server" server "$lab_http_port" server.http.log
    ex_setup
    exec 3>&1
    printf '%s\n' "$n" >"$ex_state_dir/exercise"
    # Set up: from here on the namespaces and their processes must outlive this script.
    lab_pids=() lab_ns_list=() lab_deferred=() lab_applied_rules=()
    cat <<EOF

Symptom:
$(printf '%s\n' "$ex_symptom" | sed 's/^/  /')

Inspect and fix the gateway:  sudo ip netns exec $ns_gw bash
Try it from the client:       sudo ip netns exec $ns_client curl -sS -m 3 http://$server_ip4/
This exercise's files:        $ex_state_dir
When you think it is fixed:   sudo $0 $n --check
To remove it:                 sudo $0 $n --clean
EOF
}

ex_check_run() {
    local n=$1 current
    require_root
    use_tplab >/dev/null
    lab_lock
    current=$(ex_current)
    if [[ -z "$current" ]]; then
        ex_usage_error "no exercise is set up with LAB_PREFIX=$LAB_PREFIX: run $0 $n first"
    elif [[ "$current" != "$n" ]]; then
        ex_usage_error "exercise $current is set up, not $n: check it with $0 $current --check"
    fi
    lab_ns_exists "$ns_gw" || ex_usage_error "exercise $n's namespace $ns_gw is gone: run $0 $n again"
    cd "$ex_state_dir"
    use_family ipv4
    log "checking exercise $n: $ex_title"
    ex_check
    printf '\n%d passed, %d failed\n' "$lab_pass_count" "$lab_fail_count"
    if ((lab_fail_count > 0)); then
        log "exercise $n: not solved yet"
        exit 1
    fi
    log "exercise $n: solved"
    exit 0
}

ex_clean_run() {
    local n=$1 current
    require_root
    lab_lock
    current=$(ex_current)
    if [[ -n "$current" && "$current" != "$n" ]]; then
        ex_usage_error "exercise $current is set up, not $n: $0 $current --clean removes it"
    fi
    if [[ -z "$current" ]] && ! lab_ns_exists "$ns_gw"; then
        log "nothing to clean: no exercise is set up with LAB_PREFIX=$LAB_PREFIX"
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
        --check) action=check ;;
        --clean) action=clean ;;
        [0-9] | [0-9][0-9])
            [[ -z "$n" ]] || ex_usage_error "one exercise at a time (got $n and $1)"
            n=$1
            ;;
        *) ex_usage_error "unknown argument '$1'" ;;
        esac
        shift
    done
    [[ -n "$n" ]] || ex_usage_error "which exercise? give its number ($0 --list)"
    ex_load "$n"
    case "$action" in
    setup) ex_setup_run "$n" ;;
    check) ex_check_run "$n" ;;
    clean) ex_clean_run "$n" ;;
    esac
}

main "$@"
