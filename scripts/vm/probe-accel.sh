#!/usr/bin/env bash
# Prints the QEMU accelerator to boot the tplab image with: "kvm" when /dev/kvm can really boot
# Debian's kernel (a short boot reaches the initramfs in time), else "tcg" (software emulation).
# Some hosts have a /dev/kvm that cannot run a stock kernel (an MSR abort with -cpu host, a hang
# in decompression otherwise), so the device existing is not enough.
#
# Usage: scripts/vm/probe-accel.sh IMAGE_DIR   (IMAGE_DIR has vmlinuz and initrd.img)
# TPLAB_VM_ACCEL=kvm|tcg skips the probe; TPLAB_VM_PROBE_SECONDS bounds it (default 20).
set -euo pipefail

dir=${1:?usage: probe-accel.sh IMAGE_DIR}
case ${TPLAB_VM_ACCEL:-} in
kvm | tcg) echo "$TPLAB_VM_ACCEL"; exit 0 ;;
'') ;;
*) echo "probe-accel: TPLAB_VM_ACCEL must be kvm or tcg (got $TPLAB_VM_ACCEL)" >&2; exit 2 ;;
esac
if [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
    echo "probe-accel: no usable /dev/kvm: software emulation" >&2
    echo tcg
    exit 0
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT
# rdinit=/bin/false: the kernel runs nothing, it only has to reach the point of starting init.
timeout "${TPLAB_VM_PROBE_SECONDS:-20}" qemu-system-x86_64 -accel kvm -cpu host -m 512 \
    -nodefaults -display none -no-reboot -serial "file:$log" \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
    -append "console=ttyS0 panic=-1 rdinit=/bin/false" >/dev/null 2>&1 || true
if grep -q -e 'Run /bin/false as init' -e 'Kernel panic' "$log"; then
    echo "probe-accel: KVM boots the kernel: using it" >&2
    echo kvm
else
    echo "probe-accel: /dev/kvm is there but the kernel did not boot on it: software emulation" >&2
    echo tcg
fi
