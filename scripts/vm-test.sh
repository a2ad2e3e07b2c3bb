#!/usr/bin/env bash
# Boots the tplab Debian 12 VM (scripts/vm/build-box.sh, cached) under plain QEMU, puts this tree
# and the host-built tplab in, runs labs/quickstart.sh and labs/compare.sh inside as root, and
# copies the labs' output (compare's report.html, report.json and pcaps) back to the host.
#
# Usage: sudo scripts/vm-test.sh [--quick] [--out DIR]
#   --quick    what CI runs: the slim image (build-box.sh --slim) and labs/quickstart.sh only
#   --out DIR  where the guest's lab output lands (default: ./vm-output, with --quick
#              ./vm-output-quick)
# Before the labs it checks that nft list ruleset answers after an iptables TPROXY rule
# (tests/vm/nft_after_tproxy.sh). Exit 0 only if that and every lab run passed inside the VM
# and their output came back, 1 if not, 2 on bad arguments.
# Environment: TPLAB (the tplab binary, default build/cli/tplab), TPLAB_VM_CACHE (image cache,
# default /var/cache/tplab-vm), TPLAB_VM_ACCEL=kvm|tcg (skip the probe), TPLAB_VM_SMP (default 2),
# TPLAB_VM_MEMORY (MiB, default 2048), TPLAB_VM_BOOT_TIMEOUT (s, default 300).
# The VM runs on a throwaway overlay: the cached image is never written. QEMU and the shared ssh
# connection are stopped and the overlay removed on every exit path. Docs: docs/vm.md.
set -euo pipefail

repo=$(dirname "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")")
out=
quick=0
while (($#)); do
    case $1 in
    --out) out=${2:?--out needs a directory}; shift 2 ;;
    --quick) quick=1; shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vm-test: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ -n $out ]] || { out=$PWD/vm-output; ((quick)) && out+=-quick; }
tplab=${TPLAB:-$repo/build/cli/tplab}
[[ -x $tplab ]] || { echo "vm-test: no tplab binary at $tplab: build it first (scripts/build.sh) or set TPLAB" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || { echo "vm-test: run as root (the image is built by mmdebstrap as root)" >&2; exit 1; }

started=$SECONDS
step_started=$SECONDS
timings=()
step() { # step NAME: close the previous step's timing and announce the next
    [[ -n ${current_step:-} ]] && timings+=("$(printf '%-38s %4ds' "$current_step" $((SECONDS - step_started)))")
    current_step=$1
    step_started=$SECONDS
    [[ -n $1 ]] && echo "vm-test: $1" >&2
    return 0
}

work=$(mktemp -d /tmp/tplab-vm.XXXXXX)
qemu_pid=
cleanup() {
    local rc=$?
    stop_ssh_master
    if [[ -n $qemu_pid ]] && kill -0 "$qemu_pid" 2>/dev/null; then
        kill "$qemu_pid" 2>/dev/null || true
        for _ in 1 2 3 4 5 6 7 8 9 10; do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 0.5; done
        kill -9 "$qemu_pid" 2>/dev/null || true
    fi
    [[ $rc -ne 0 && -f $work/console.log ]] && { echo "vm-test: last lines of the guest console:" >&2; tail -15 "$work/console.log" >&2; }
    rm -rf "$work"
    exit "$rc"
}
# stop_ssh_master: end the shared ssh connection's background process, if one was started.
stop_ssh_master() {
    [[ -S $work/ssh-master ]] || return 0
    local control=(-o "ControlPath=$work/ssh-master") pid
    pid=$(ssh "${control[@]}" -O check root@127.0.0.1 2>&1 | sed -n 's/.*pid=\([0-9]*\).*/\1/p')
    ssh "${control[@]}" -O exit root@127.0.0.1 >/dev/null 2>&1 || true
    [[ -n $pid ]] && kill "$pid" 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "build or reuse the image"
box_args=()
((quick)) && box_args=(--slim)
image=$("$repo/scripts/vm/build-box.sh" "${box_args[@]}" | tail -1)
accel=${TPLAB_VM_ACCEL:-$(cat "$image/accel")}
case $accel in
kvm) accel_args=(-accel kvm -cpu host) ;;
tcg) accel_args=(-accel tcg,thread=multi -cpu max) ;;
*) echo "vm-test: TPLAB_VM_ACCEL must be kvm or tcg (got $accel)" >&2; exit 2 ;;
esac

step "boot ($accel) until ssh answers"
qemu-img create -q -f qcow2 -b "$image/disk.qcow2" -F qcow2 "$work/overlay.qcow2"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
qemu-system-x86_64 "${accel_args[@]}" -smp "${TPLAB_VM_SMP:-2}" -m "${TPLAB_VM_MEMORY:-2048}" \
    -nodefaults -display none -serial "file:$work/console.log" \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$(cat "$image/cmdline")" \
    -drive "file=$work/overlay.qcow2,if=virtio,format=qcow2" \
    -device virtio-rng-pci \
    -netdev "user,id=net0,hostfwd=tcp:127.0.0.1:$port-:22" -device virtio-net-pci,netdev=net0 \
    >"$work/qemu.log" 2>&1 &
qemu_pid=$!

# One ssh connection, shared by every command (ControlMaster): under software emulation each new
# connection's key exchange costs the guest seconds.
ssh_args=(-i "$(dirname "$image")/id_ed25519" -p "$port" -o BatchMode=yes -o ConnectTimeout=10
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR
    -o ControlMaster=auto -o "ControlPath=$work/ssh-master" -o ControlPersist=yes)
guest() { ssh "${ssh_args[@]}" root@127.0.0.1 "$@"; }

deadline=$((SECONDS + ${TPLAB_VM_BOOT_TIMEOUT:-300}))
until guest true 2>/dev/null; do
    kill -0 "$qemu_pid" 2>/dev/null || { echo "vm-test: QEMU exited during boot:" >&2; cat "$work/qemu.log" >&2; exit 1; }
    ((SECONDS < deadline)) || { echo "vm-test: no ssh after ${TPLAB_VM_BOOT_TIMEOUT:-300} s" >&2; exit 1; }
    sleep 2
done

step "copy the tree and tplab in"
tar -C "$repo" --exclude=./.git --exclude=./build --exclude=./lab-output --exclude=./vm-output \
    -cf - . | guest 'rm -rf /root/tplab && mkdir -p /root/tplab/build/cli && tar -xf - -C /root/tplab'
# Without its debug information (tens of MB in a RelWithDebInfo build) it copies in seconds.
strip --strip-debug -o "$work/tplab" "$tplab" 2>/dev/null || cp "$tplab" "$work/tplab"
guest 'cat >/root/tplab/build/cli/tplab && chmod 755 /root/tplab/build/cli/tplab' <"$work/tplab"
guest '/root/tplab/build/cli/tplab --version' >&2

# Software emulation runs guest code several times slower: give every wait more room.
lab_env="LAB_WAIT=60 LAB_TIMEOUT=600 LAB_PREFIX=tplvm TPLAB=/root/tplab/build/cli/tplab"
status=0
# The hang once seen here (docs/vm.md): nft list ruleset after an iptables TPROXY rule.
step "nft list ruleset after a TPROXY rule"
nft_repeat=20
((quick)) && nft_repeat=5
guest "NFT_TIMEOUT=60 NFT_REPEAT=$nft_repeat /root/tplab/tests/vm/nft_after_tproxy.sh" \
    >"$work/nft.log" 2>&1 || status=$?
tail -1 "$work/nft.log" >&2
nft_rc=$status
status=0
step "labs/quickstart.sh inside"
guest "cd /root/tplab && mkdir -p /root/out && $lab_env LAB_OUTPUT=/root/out/quickstart labs/quickstart.sh" \
    >"$work/quickstart.log" 2>&1 || status=$?
tail -5 "$work/quickstart.log" >&2
quickstart_rc=$status
status=0
compare_rc=skipped
if ((!quick)); then
    step "labs/compare.sh inside"
    guest "cd /root/tplab && $lab_env labs/compare.sh --out /root/out/compare" \
        >"$work/compare.log" 2>&1 || status=$?
    tail -5 "$work/compare.log" >&2
    compare_rc=$status
fi

step "copy the output back"
rm -rf "$out"
mkdir -p "$out"
guest 'tar -C /root/out -cf - .' | tar -xf - -C "$out"
cp "$work"/*.log "$out/"

step "shut the VM down"
guest 'systemctl poweroff' >/dev/null 2>&1 || true
for _ in $(seq 60); do kill -0 "$qemu_pid" 2>/dev/null || break; sleep 1; done
kill -0 "$qemu_pid" 2>/dev/null && echo "vm-test: the guest did not power off in 60 s: killing QEMU" >&2
cp "$work/console.log" "$out/console.log"
step ""

pcaps=0
[[ -d $out/compare ]] && pcaps=$(find "$out/compare" -name '*.pcap' | wc -l)
echo "vm-test: timings" >&2
printf '  %s\n' "${timings[@]}" >&2
printf '  %-38s %4ds\n' "total" $((SECONDS - started)) >&2
echo "vm-test: image $image ($(du -m "$image/disk.qcow2" | cut -f1) MB qcow2)" >&2
echo "vm-test: nft check exit $nft_rc, quickstart exit $quickstart_rc, compare exit $compare_rc, $pcaps pcaps, output in $out" >&2
# The proxies' events came back: both requests were accepted inside the guest.
events_back=1
for mode in redirect tproxy; do
    grep -q '"event":"accepted"' "$out/quickstart/$mode.jsonl" 2>/dev/null || events_back=0
done
if ((quick)); then
    if [[ $nft_rc -eq 0 && $quickstart_rc -eq 0 && $events_back -eq 1 ]]; then
        echo "PASS: quickstart passed inside the slim Debian 12 VM" >&2
        exit 0
    fi
    echo "FAIL: see $out/nft.log and $out/quickstart.log" >&2
    exit 1
fi
if [[ $nft_rc -eq 0 && $quickstart_rc -eq 0 && $compare_rc -eq 0 && $events_back -eq 1 &&
    -s $out/compare/report.html && $pcaps -gt 0 ]]; then
    echo "PASS: both labs passed inside the Debian 12 VM" >&2
    exit 0
fi
echo "FAIL: see $out/quickstart.log and $out/compare.log" >&2
exit 1
