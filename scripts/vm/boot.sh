# shellcheck shell=bash
# Booting the tplab image under QEMU and reaching it over ssh: sourced by scripts/vm-test.sh (one
# VM) and scripts/vm-three.sh (client, gateway and server as three VMs). The caller sets
# vm_work (a private temporary directory) and vm_image (a build-box.sh image directory), and
# calls vm_stop_all on every exit path.

declare -A vm_pid=()
vm_names=()
vm_tool=vm            # the caller's name, for its messages
vm_started=$SECONDS
vm_timings=()

# vm_step NAME: close the previous step's timing and announce NAME; "" closes the last one.
vm_step() {
    if [[ -n ${vm_current_step:-} ]]; then
        vm_timings+=("$(printf '%-44s %4ds' "$vm_current_step" $((SECONDS - vm_step_started)))")
    fi
    vm_current_step=$1
    vm_step_started=$SECONDS
    [[ -z $1 ]] || echo "$vm_tool: $1" >&2
}

# vm_print_timings: how long each step took, and the total.
vm_print_timings() {
    echo "$vm_tool: timings" >&2
    printf '  %s\n' "${vm_timings[@]}" >&2
    printf '  %-44s %4ds\n' "total" $((SECONDS - vm_started)) >&2
}

# vm_accel_args: set vm_accel and vm_accel_args from TPLAB_VM_ACCEL or the image's probe result.
vm_accel_args() {
    vm_accel=${TPLAB_VM_ACCEL:-$(cat "$vm_image/accel")}
    # shellcheck disable=SC2054  # QEMU's option values have commas
    case $vm_accel in
    kvm) vm_accel_args=(-accel kvm -cpu host) ;;
    tcg) vm_accel_args=(-accel tcg,thread=multi -cpu max) ;;
    *) echo "vm: TPLAB_VM_ACCEL must be kvm or tcg (got $vm_accel)" >&2; exit 2 ;;
    esac
}

# vm_free_port tcp|udp: a port nothing on 127.0.0.1 uses now.
vm_free_port() {
    local kind=SOCK_STREAM
    [[ $1 == udp ]] && kind=SOCK_DGRAM
    /usr/bin/python3 -c "import socket; s = socket.socket(socket.AF_INET, socket.$kind)
s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"
}

# vm_boot NAME SMP MEMORY_MIB QEMU_ARG...: boot the image on a throwaway overlay as NAME, with
# user-mode networking (ssh forwarded from a free port on 127.0.0.1 only) and the extra QEMU
# arguments; its console goes to vm_work/NAME.console.log. Returns at once (see vm_wait_ssh).
vm_boot() {
    local name=$1 smp=$2 memory=$3 port
    shift 3
    qemu-img create -q -f qcow2 -b "$vm_image/disk.qcow2" -F qcow2 "$vm_work/$name.qcow2"
    port=$(vm_free_port tcp)
    qemu-system-x86_64 "${vm_accel_args[@]}" -smp "$smp" -m "$memory" \
        -nodefaults -display none -serial "file:$vm_work/$name.console.log" \
        -kernel "$vm_image/vmlinuz" -initrd "$vm_image/initrd.img" -append "$(cat "$vm_image/cmdline")" \
        -drive "file=$vm_work/$name.qcow2,if=virtio,format=qcow2" \
        -device virtio-rng-pci \
        -netdev "user,id=mgmt,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=mgmt \
        "$@" >"$vm_work/$name.qemu.log" 2>&1 &
    vm_pid[$name]=$!
    vm_names+=("$name")
    # One ssh connection per VM, shared by every command (ControlMaster): under software
    # emulation each new connection's key exchange costs the guest seconds.
    cat >>"$vm_work/ssh_config" <<EOF
Host $name
    HostName 127.0.0.1
    Port $port
    User root
    IdentityFile $(dirname "$vm_image")/id_ed25519
    BatchMode yes
    ConnectTimeout 10
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
    ControlMaster auto
    ControlPath $vm_work/ssh-$name
    ControlPersist yes
    ServerAliveInterval 15
EOF
}

# vm_ssh NAME CMD...: run CMD (one shell command line) on NAME.
vm_ssh() {
    local name=$1
    shift
    ssh -F "$vm_work/ssh_config" "$name" "$@"
}

# vm_wait_ssh NAME TIMEOUT: wait until NAME answers ssh; 1 (with QEMU's log) if QEMU exits or
# TIMEOUT seconds pass first.
vm_wait_ssh() {
    local name=$1 deadline=$((SECONDS + $2))
    until vm_ssh "$name" true 2>/dev/null; do
        if ! kill -0 "${vm_pid[$name]}" 2>/dev/null; then
            echo "vm: QEMU ($name) exited during boot:" >&2
            cat "$vm_work/$name.qemu.log" >&2
            return 1
        fi
        ((SECONDS < deadline)) || { echo "vm: $name: no ssh after $2 s" >&2; return 1; }
        sleep 2
    done
}

# vm_poweroff NAME: power NAME off, and stop QEMU if it has not in 60 s.
vm_poweroff() {
    local name=$1
    vm_ssh "$name" 'systemctl poweroff' >/dev/null 2>&1 || true
    for _ in $(seq 60); do kill -0 "${vm_pid[$name]}" 2>/dev/null || return 0; sleep 1; done
    echo "vm: $name did not power off in 60 s: killing QEMU" >&2
    kill "${vm_pid[$name]}" 2>/dev/null || true
}

# vm_stop_all: end every shared ssh connection and QEMU (TERM, then KILL); for the exit trap.
vm_stop_all() {
    local name pid
    for name in "${vm_names[@]}"; do
        if [[ -S $vm_work/ssh-$name ]]; then
            # (|| true: under set -e a dead master would end the cleanup here, leaving files)
            pid=$(ssh -F "$vm_work/ssh_config" -O check "$name" 2>&1 | sed -n 's/.*pid=\([0-9]*\).*/\1/p') || true
            ssh -F "$vm_work/ssh_config" -O exit "$name" >/dev/null 2>&1 || true
            if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; fi
        fi
        pid=${vm_pid[$name]}
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
}
