# shellcheck shell=bash
# Part of labs/lib.sh, which sources every part in order (source lib.sh, not this file).
# Which machine each namespace lives on. By default every namespace is on this machine. With
# LAB_MACHINES set (scripts/vm-three.sh sets it: client, gateway and server as three VMs), a
# namespace can live inside another machine reached over ssh: there it is that machine's
# namespace of the same name, and the lab's work directory is at the same path (a shared
# folder), so relative paths, logs, events and pcaps work unchanged. Every command a lab runs
# in or about a namespace goes through lab_on.
#
#   LAB_MACHINES="client=HOST gw=HOST server=HOST"   namespaces (without LAB_PREFIX) and the ssh
#                                                    host each one lives on; others stay here
#   LAB_SSH="ssh -F FILE"                            the ssh command that reaches those hosts
#   LAB_LINKS="client-gw=MAC gw-client=MAC ..."      for add_link between two machines: the NIC,
#                                                    by MAC address, on each end of their wire

declare -A lab_machine_of=()  # namespace name without the prefix -> ssh host
declare -A lab_link_mac=()    # "A-B" (names without the prefix) -> MAC of A's NIC towards B
lab_host=""                   # set by lab_locate
lab_ssh_argv=()               # set by lab_ssh_command
declare -A lab_remote_job=()  # start_bg's pid here of a job on another machine -> "NS PIDFILE"

# lab_parse_machines: read LAB_MACHINES and LAB_LINKS; exit 2 on a malformed entry.
lab_parse_machines() {
    local entry name value
    for entry in ${LAB_MACHINES:-}; do
        name=${entry%%=*} value=${entry#*=}
        [[ "$entry" == *=* && "$name" =~ ^[a-z]+$ && "$value" =~ ^[A-Za-z0-9._@-]+$ ]] || {
            printf 'ERROR: LAB_MACHINES: %s is not NAME=SSH_HOST\n' "$entry" >&2
            exit 2
        }
        lab_machine_of[$name]=$value
    done
    for entry in ${LAB_LINKS:-}; do
        name=${entry%%=*} value=${entry#*=}
        [[ "$name" =~ ^[a-z]+-[a-z]+$ && "$value" =~ ^([0-9a-f]{2}:){5}[0-9a-f]{2}$ ]] || {
            printf 'ERROR: LAB_LINKS: %s is not A-B=MAC (lower-case hex)\n' "$entry" >&2
            exit 2
        }
        lab_link_mac[$name]=$value
    done
    if ((${#lab_machine_of[@]} > 0)) && [[ -z "${LAB_SSH:-}" ]]; then
        printf 'ERROR: LAB_MACHINES is set but LAB_SSH (the ssh command) is not\n' >&2
        exit 2
    fi
}

# lab_locate NS: set lab_host to the ssh host NS lives on, empty for this machine (and for `-`).
lab_locate() {
    local name=${1#"${LAB_PREFIX}"-}
    lab_host=${lab_machine_of[$name]:-}
}

# lab_remote NS: true if NS lives on another machine.
lab_remote() {
    lab_locate "$1"
    [[ -n "$lab_host" ]]
}

# lab_on NS CMD...: run CMD on the machine NS lives on, in the host's own namespace there (not in
# NS: say `ip netns exec NS` for that). Here it runs as it is; on another machine it runs through
# ssh in the same working directory with the same PATH, with its stdin, stdout, stderr and exit
# status passed through.
lab_on() {
    lab_locate "$1"
    shift
    if [[ -z "$lab_host" ]]; then
        "$@"
        return
    fi
    lab_ssh_command "$@"
    "${lab_ssh_argv[@]}"
}

# lab_ssh_command CMD...: set lab_ssh_argv to the ssh command that runs CMD on lab_host (see
# lab_locate) in this working directory, with this PATH.
lab_ssh_command() {
    local command
    lab_quote "$@"
    command="exec $lab_quoted"
    lab_quote cd "$PWD"
    command="$lab_quoted && $command"
    lab_quote "$PATH"
    command="PATH=$lab_quoted && $command"
    read -ra lab_ssh_argv <<<"$LAB_SSH"
    lab_ssh_argv+=("$lab_host" "$command")
}

# lab_link_ends NS_A NS_B: true if NS_A and NS_B are on different machines joined by a wire
# listed in LAB_LINKS; sets lab_mac_a and lab_mac_b to the MACs of the NICs on each end.
lab_link_ends() {
    local a=${1#"${LAB_PREFIX}"-} b=${2#"${LAB_PREFIX}"-} host_a
    lab_locate "$1"
    host_a=$lab_host
    lab_locate "$2"
    [[ "$host_a" != "$lab_host" ]] || return 1
    lab_mac_a=${lab_link_mac[$a-$b]:-}
    lab_mac_b=${lab_link_mac[$b-$a]:-}
    [[ -n "$lab_mac_a" && -n "$lab_mac_b" ]] ||
        die "$1 and $2 are on different machines, but LAB_LINKS names no wire between them"
}

# lab_plug_nic NS MAC IF: move the machine's NIC with address MAC into NS, named IF, and bring it
# up (the wire between two machines plays the part of a veth pair). When NS is deleted, the
# kernel gives the NIC back to the machine's root namespace, ready for the next run.
lab_plug_nic() {
    local ns=$1 mac=$2 ifname=$3
    # shellcheck disable=SC2016  # expanded on the machine the NIC is on
    lab_on "$ns" sh -c 'set -e
        dev=$(ip -o link show | awk -v mac="$1" "\$0 ~ \"link/ether \" mac {sub(\":\$\", \"\", \$2); sub(\"@.*\", \"\", \$2); print \$2; exit}")
        [ -n "$dev" ] || { echo "no NIC with address $1 outside the lab namespaces" >&2; exit 1; }
        ip link set dev "$dev" down
        ip link set dev "$dev" netns "$2"
        ip -n "$2" link set dev "$dev" name "$3"
        ip -n "$2" link set dev "$3" up' sh "$mac" "$ns" "$ifname"
}
