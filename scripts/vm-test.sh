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

# shellcheck source=scripts/vm/boot.sh
source "$repo/scripts/vm/boot.sh"
vm_tool=vm-test
vm_work=$(mktemp -d /tmp/tplab-vm.XXXXXX)
work=$vm_work
cleanup() {
    local rc=$?
    set +e  # every step of the cleanup runs, whatever fails before it
    vm_stop_all
    [[ $rc -ne 0 && -f $work/tplab-vm.console.log ]] && { echo "vm-test: last lines of the guest console:" >&2; tail -15 "$work/tplab-vm.console.log" >&2; }
    rm -rf "$work"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

vm_step "build or reuse the image"
box_args=()
((quick)) && box_args=(--slim)
vm_image=$("$repo/scripts/vm/build-box.sh" "${box_args[@]}" | tail -1)
image=$vm_image
vm_accel_args

vm_step "boot ($vm_accel) until ssh answers"
vm_boot tplab-vm "${TPLAB_VM_SMP:-2}" "${TPLAB_VM_MEMORY:-2048}"
guest() { vm_ssh tplab-vm "$@"; }
vm_wait_ssh tplab-vm "${TPLAB_VM_BOOT_TIMEOUT:-300}"

vm_step "copy the tree and tplab in"
# The files git knows (tracked, or new and not ignored): never build trees, outputs or captures.
tree_files() {
    if git -C "$repo" rev-parse --git-dir >/dev/null 2>&1; then
        git -C "$repo" ls-files -z --cached --others --exclude-standard
    else
        find . -path ./.git -prune -o -path './build*' -prune -o -path ./lab-output -prune \
            -o -path './vm-output*' -prune -o -type f -print0
    fi
}
(cd "$repo" && tree_files | tar --null -T - -cf -) |
    guest 'rm -rf /root/tplab && mkdir -p /root/tplab/build/cli && tar -xf - -C /root/tplab'
# Without its debug information (tens of MB in a RelWithDebInfo build) it copies in seconds.
strip --strip-debug -o "$work/tplab" "$tplab" 2>/dev/null || cp "$tplab" "$work/tplab"
guest 'cat >/root/tplab/build/cli/tplab && chmod 755 /root/tplab/build/cli/tplab' <"$work/tplab"
guest '/root/tplab/build/cli/tplab --version' >&2

# Software emulation runs guest code several times slower: give every wait more room.
lab_env="LAB_WAIT=60 LAB_TIMEOUT=600 LAB_PREFIX=tplvm TPLAB=/root/tplab/build/cli/tplab"
status=0
# The hang once seen here (docs/vm.md): nft list ruleset after an iptables TPROXY rule.
vm_step "nft list ruleset after a TPROXY rule"
nft_repeat=20
((quick)) && nft_repeat=5
guest "NFT_TIMEOUT=60 NFT_REPEAT=$nft_repeat /root/tplab/tests/vm/nft_after_tproxy.sh" \
    >"$work/nft.log" 2>&1 || status=$?
tail -1 "$work/nft.log" >&2
nft_rc=$status
status=0
vm_step "labs/quickstart.sh inside"
guest "cd /root/tplab && mkdir -p /root/out && $lab_env LAB_OUTPUT=/root/out/quickstart labs/quickstart.sh" \
    >"$work/quickstart.log" 2>&1 || status=$?
tail -5 "$work/quickstart.log" >&2
quickstart_rc=$status
status=0
compare_rc=skipped
if ((!quick)); then
    vm_step "labs/compare.sh inside"
    guest "cd /root/tplab && $lab_env labs/compare.sh --out /root/out/compare" \
        >"$work/compare.log" 2>&1 || status=$?
    tail -5 "$work/compare.log" >&2
    compare_rc=$status
fi

vm_step "copy the output back"
rm -rf "$out"
mkdir -p "$out"
guest 'tar -C /root/out -cf - .' | tar -xf - -C "$out"
cp "$work"/*.log "$out/"

vm_step "shut the VM down"
vm_poweroff tplab-vm
cp "$work/tplab-vm.console.log" "$out/console.log"
vm_step ""

pcaps=0
[[ -d $out/compare ]] && pcaps=$(find "$out/compare" -name '*.pcap' | wc -l)
vm_print_timings
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
