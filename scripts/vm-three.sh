#!/usr/bin/env bash
# The compare lab across three VMs: client, gateway and server are separate Debian 12 machines
# (the image of scripts/vm/build-box.sh, each on its own throwaway overlay) joined by two private
# wires, as three machines in a real lab or one VM per student group would be:
#
#   vm-client ens4 ====== wire 1 ====== ens4 vm-gw ens5 ====== wire 2 ====== ens4 vm-server
#   52:54:00:7a:00:12                    :21      :23                        :32
#
# Each wire is a QEMU UDP socket pair on 127.0.0.1: no bridge, tap, firewall rule or daemon on
# the host. labs/compare.sh runs here, on the host, unchanged: with LAB_MACHINES each of its
# namespaces lives inside its VM (tpl3-client in vm-client, ...), every command runs there over
# ssh, and each wire's NIC moves into the namespace where a veth would have been
# (labs/lib/machines.sh). The repository (read-only, for tplab and the labs) and the output
# directory are shared with all three VMs at the same paths (virtio-9p), so each VM's captures,
# events and snapshots land on the host as they are written. One tplab capture runs on each VM;
# the three clocks are aligned on the frames both ends of a wire saw, and one tplab report reads
# it all.
#
# Usage: sudo scripts/vm-three.sh [--ipv4 | --ipv6] [--out DIR]
#   --ipv4, --ipv6  one family only (default: both)
#   --out DIR       where the compare lab's output goes (default: ./vm-output-three)
# Exit 0 only if the compare lab passed across the three VMs and its report came back, 1 if
# not, 2 on bad arguments. Prints how long each step took.
# Environment: TPLAB (default build/cli/tplab), TPLAB_VM_CACHE, TPLAB_VM_ACCEL=kvm|tcg,
# TPLAB_VM_MEMORY (MiB per VM, default 1024), TPLAB_VM_BOOT_TIMEOUT (s, default 600).
# QEMU, the ssh connections and the overlays are removed on every exit path. Docs: docs/vm.md.
set -euo pipefail

repo=$(dirname "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")")
out=$PWD/vm-output-three
lab_args=()
while (($#)); do
    case $1 in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --ipv4 | --ipv6) lab_args+=("$1"); shift ;;
    -h | --help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vm-three: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
tplab=${TPLAB:-$repo/build/cli/tplab}
[[ -x $tplab ]] || { echo "vm-three: no tplab binary at $tplab: build it first (scripts/build.sh) or set TPLAB" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "vm-three: run as root (QEMU shares folders as root; mmdebstrap builds the image)" >&2; exit 1; }
out=$(realpath -m -- "$out")
[[ $out =~ ^/[A-Za-z0-9._/-]+$ ]] || { echo "vm-three: --out must be a plain path (letters, digits, . _ - /): $out" >&2; exit 2; }
tplab=$(realpath -- "$tplab")
[[ $tplab == "$repo"/* ]] || { echo "vm-three: TPLAB must be inside $repo (it is shared with the VMs from there)" >&2; exit 2; }
mkdir -p "$out"

# shellcheck source=scripts/vm/boot.sh
source "$repo/scripts/vm/boot.sh"

vm_tool=vm-three

vm_work=$(mktemp -d /tmp/tplab-vm3.XXXXXX)
lab_pid=
cleanup() {
    local rc=$?
    set +e  # every step of the cleanup runs, whatever fails before it
    # An interrupted lab first cleans up in the VMs (it handles TERM), then the VMs go.
    if [[ -n $lab_pid ]] && kill -0 "$lab_pid" 2>/dev/null; then
        kill -TERM "$lab_pid" 2>/dev/null || true
        for _ in $(seq 120); do kill -0 "$lab_pid" 2>/dev/null || break; sleep 1; done
    fi
    vm_stop_all
    if [[ $rc -ne 0 ]]; then
        for name in "${vm_names[@]}"; do
            [[ -f $vm_work/$name.console.log ]] || continue
            echo "vm-three: last lines of $name's console:" >&2
            tail -5 "$vm_work/$name.console.log" >&2
        done
    fi
    rm -rf "$vm_work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

vm_step "build or reuse the image"
vm_image=$("$repo/scripts/vm/build-box.sh" | tail -1)
vm_accel_args

vm_step "boot three VMs ($vm_accel) until ssh answers"
declare -A mac=([client-gw]=52:54:00:7a:00:12 [gw-client]=52:54:00:7a:00:21
    [gw-server]=52:54:00:7a:00:23 [server-gw]=52:54:00:7a:00:32)
wire1_client=$(vm_free_port udp) wire1_gw=$(vm_free_port udp)
wire2_gw=$(vm_free_port udp) wire2_server=$(vm_free_port udp)
# wire ID MAC LOCAL_PORT PEER_PORT: a NIC on one end of a UDP socket wire.
wire() {
    printf '%s\n' -netdev "socket,id=$1,udp=127.0.0.1:$4,localaddr=127.0.0.1:$3" \
        -device "virtio-net-pci,netdev=$1,mac=$2"
}
shares=(-virtfs "local,path=$repo,mount_tag=tplab-repo,security_model=none,readonly=on"
    -virtfs "local,path=$out,mount_tag=tplab-out,security_model=passthrough")
memory=${TPLAB_VM_MEMORY:-1024}
mapfile -t client_wires < <(wire w1 "${mac[client-gw]}" "$wire1_client" "$wire1_gw")
mapfile -t gw_wires < <(wire w1 "${mac[gw-client]}" "$wire1_gw" "$wire1_client"
    wire w2 "${mac[gw-server]}" "$wire2_gw" "$wire2_server")
mapfile -t server_wires < <(wire w2 "${mac[server-gw]}" "$wire2_server" "$wire2_gw")
vm_boot vm-client 1 "$memory" "${client_wires[@]}" "${shares[@]}"
vm_boot vm-gw 1 "$memory" "${gw_wires[@]}" "${shares[@]}"
vm_boot vm-server 1 "$memory" "${server_wires[@]}" "${shares[@]}"
for name in vm-client vm-gw vm-server; do
    vm_wait_ssh "$name" "${TPLAB_VM_BOOT_TIMEOUT:-600}"
done

vm_step "mount the shared folders, set the clocks"
for name in vm-client vm-gw vm-server; do
    # The wires' NICs belong to the lab: systemd-networkd (DHCP on every en*) leaves them alone.
    vm_ssh "$name" "set -e
        mkdir -p /run/systemd/network
        printf '[Match]\nMACAddress=${mac[*]}\n\n[Link]\nUnmanaged=yes\n' \
            >/run/systemd/network/05-tplab-wires.network
        networkctl reload
        mkdir -p '$repo'
        mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,ro,cache=loose tplab-repo '$repo'
        mkdir -p '$out'
        mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144 tplab-out '$out'
        hostnamectl set-hostname $name 2>/dev/null || hostname $name"
    # To the millisecond or so; the captures are aligned exactly afterwards (align_clocks.py).
    vm_ssh "$name" "date -u -s @$(date +%s.%N) >/dev/null"
    vm_ssh "$name" "'$tplab' --version" >&2
done

vm_step "labs/compare.sh across the three VMs"
links="client-gw=${mac[client-gw]} gw-client=${mac[gw-client]}"
links+=" gw-server=${mac[gw-server]} server-gw=${mac[server-gw]}"
status=0
# Software emulation and ssh per command: give every wait more room, and the held connection 5 s.
LAB_MACHINES="client=vm-client gw=vm-gw server=vm-server" LAB_LINKS=$links \
    LAB_SSH="ssh -F $vm_work/ssh_config" LAB_PREFIX=tpl3 LAB_WAIT=60 LAB_TIMEOUT=1800 LAB_HOLD=5 \
    TPLAB=$tplab "$repo/labs/compare.sh" "${lab_args[@]}" --out "$out/compare" \
    >"$out/compare.log" 2>&1 </dev/null &
lab_pid=$!  # in the background, so that a signal reaches this script's trap at once
wait "$lab_pid" || status=$?
lab_pid=
tail -3 "$out/compare.log" >&2

vm_step "shut the VMs down"
for name in vm-client vm-gw vm-server; do
    vm_ssh "$name" "umount '$out' '$repo'" 2>/dev/null || true
    vm_poweroff "$name"
    cp "$vm_work/$name.console.log" "$out/$name.console.log"
done
vm_step ""

pcaps=$(find "$out/compare" -name '*.pcap' | wc -l)
vm_print_timings
echo "vm-three: compare exit $status, $pcaps pcaps, output in $out" >&2
if [[ $status -eq 0 && -s $out/compare/report.html && $pcaps -gt 0 ]]; then
    echo "PASS: the compare lab passed across three Debian 12 VMs" >&2
    exit 0
fi
echo "FAIL: see $out/compare.log" >&2
exit 1
