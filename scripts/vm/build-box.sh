#!/usr/bin/env bash
# Builds the tplab Debian 12 VM image from the Debian package mirror alone (mmdebstrap, no
# downloaded images), as a qcow2 for plain QEMU and a Vagrant libvirt box, cached by package set.
#
# Usage: sudo scripts/vm/build-box.sh [--slim] [--cache DIR] [--size SIZE] [--force]
#   --slim       the slim image CI boots: packages-slim.txt (what labs/quickstart.sh needs), no
#                docs or unused kernel modules, a small initrd, no Vagrant box
#   --cache DIR  where images are kept (default: $TPLAB_VM_CACHE or /var/cache/tplab-vm)
#   --size SIZE  size of the guest's root filesystem (default: 4G; the image is sparse)
#   --force      rebuild even if an image for this package set is cached
# Prints the image's directory on stdout (DIR/box-HASH, also linked as DIR/current; with --slim
# DIR/slim-HASH and DIR/current-slim): disk.qcow2, vmlinuz, initrd.img, cmdline, accel, and
# without --slim tplab-debian12.box. The ssh key that logs in as root and as vagrant is generated
# here once (DIR/id_ed25519), never committed. Docs: docs/vm.md.
set -euo pipefail

here=$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")
cache=${TPLAB_VM_CACHE:-/var/cache/tplab-vm}
size=4G
force=0
slim=0
while (($#)); do
    case $1 in
    --cache) cache=${2:?--cache needs a directory}; shift 2 ;;
    --size) size=${2:?--size needs a size such as 4G}; shift 2 ;;
    --force) force=1; shift ;;
    --slim) slim=1; shift ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-box: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $(id -u) -eq 0 ]] || { echo "build-box: run as root (mmdebstrap, file ownership in the image)" >&2; exit 1; }
for tool in mmdebstrap mkfs.ext4 qemu-img qemu-system-x86_64 ssh-keygen sha256sum tar; do
    command -v "$tool" >/dev/null || {
        echo "build-box: $tool is missing: apt-get install mmdebstrap e2fsprogs qemu-utils qemu-system-x86 openssh-client" >&2
        exit 1
    }
done

# slim_options: what makes the slim image quick to build and boot, into slim_args (mmdebstrap
# options). dpkg does not fsync each file (the tree is thrown away if the build fails), leaves
# out documentation and the kernel modules a virtio guest running the labs never loads (graphics,
# sound, media, wireless, Ethernet NICs, InfiniBand, other filesystems), and initramfs-tools puts
# only the virtio disk and ext4 in the initrd (initramfs-slim-hook). Netfilter, veth and virtio
# stay.
slim_options() {
    local dir
    slim_args=(--dpkgopt=force-unsafe-io
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright'
        --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*'
        --dpkgopt='path-exclude=/usr/share/locale/*')
    for dir in sound drivers/gpu drivers/media drivers/net/wireless drivers/net/ethernet \
        drivers/net/usb drivers/net/can drivers/infiniband drivers/staging drivers/iio \
        drivers/bluetooth drivers/isdn drivers/scsi drivers/usb drivers/hwmon drivers/md \
        drivers/comedi drivers/mtd drivers/target net/wireless net/mac80211 net/bluetooth net/sunrpc \
        fs/btrfs fs/xfs fs/ocfs2 fs/gfs2 fs/f2fs fs/nfs fs/nfsd fs/ceph fs/smb fs/ubifs fs/jfs \
        fs/reiserfs fs/nilfs2; do
        slim_args+=(--dpkgopt="path-exclude=/lib/modules/*/kernel/$dir/*"
            --dpkgopt="path-exclude=/usr/lib/modules/*/kernel/$dir/*")
    done
    slim_args+=(--essential-hook='mkdir -p "$1/etc/initramfs-tools/conf.d" "$1/etc/initramfs-tools/hooks"; printf "MODULES=list\nRESUME=none\n" >"$1/etc/initramfs-tools/conf.d/tplab-slim"'
        --essential-hook="cp '$here/initramfs-slim-hook' \"\$1/etc/initramfs-tools/hooks/tplab-slim\"")
}

step_start=$SECONDS
step() { # step NAME: print how long the previous step took, start timing the next
    printf "build-box: at %4ds: %s\n" "$((SECONDS - step_start))" "$1" >&2
}

# The mirror: the host's deb822 sources (same Debian 12 and snapshot as the host), else Debian's.
sources=/etc/apt/sources.list.d/debian.sources
[[ -f $sources ]] || sources=http://deb.debian.org/debian
# The two images differ in their package list, their name in the cache, and the slimming below.
flavor=box list=packages.txt
((slim)) && flavor=slim list=packages-slim.txt
mapfile -t packages < <(sed 's/#.*//' "$here/$list" | tr -s ' \t' '\n' | sed '/^$/d' | sort -u)

mkdir -p "$cache"
key=$cache/id_ed25519
[[ -f $key ]] || ssh-keygen -q -t ed25519 -N '' -C tplab-vm -f "$key"

# The cache key: the package set, the recipe below, the mirror, the injected key.
# Bump recipe when a hook or the disk layout changes (edits elsewhere keep the cache).
# The slim image's key also holds the slimming itself (the full image's key is unchanged by it).
recipe=2
hash=$( { printf '%s\n' "${packages[@]}"; echo "recipe $recipe";
          ((slim)) && { declare -f slim_options; cat "$here/initramfs-slim-hook"; }
          [[ -f $sources ]] && cat "$sources"; cat "$key.pub"; } | sha256sum | cut -c1-16)
out=$cache/$flavor-$hash
current=$cache/current
((slim)) && current=$cache/current-slim
# package_box DIR: DIR/tplab-debian12.box from DIR's disk, kernel, initrd and the box Vagrantfile
# template (re-made on a cache hit when the template changed: it is cheap, the image is not).
package_box() {
    local dir=$1 box
    box=$(mktemp -d "$cache/box.XXXXXX")
    ln "$dir/disk.qcow2" "$box/box.img"
    cp "$dir/vmlinuz" "$dir/initrd.img" "$dir/cmdline" "$dir/accel" "$box/"
    local virtual_size=$(( $(qemu-img info --output=json "$box/box.img" | sed -n 's/.*"virtual-size": \([0-9]*\).*/\1/p') / 1024 / 1024 / 1024 ))
    printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' "$virtual_size" >"$box/metadata.json"
    sed "s|@KEY@|$key|" "$here/box.Vagrantfile" >"$box/Vagrantfile"
    tar -C "$box" -cf "$dir/tplab-debian12.box" metadata.json Vagrantfile box.img vmlinuz initrd.img cmdline accel
    cp "$box/Vagrantfile" "$dir/box.Vagrantfile"
    rm -rf "$box"
}

if [[ -f $out/done && $force -eq 0 ]]; then
    echo "build-box: cached image for this package set: $out" >&2
    ((slim)) || sed "s|@KEY@|$key|" "$here/box.Vagrantfile" | cmp -s - "$out/box.Vagrantfile" ||
        { echo "build-box: the box's Vagrantfile changed: re-packaging the box" >&2; package_box "$out"; }
    ln -sfn "$flavor-$hash" "$current"
    echo "$out"
    exit 0
fi

work=$(mktemp -d "$cache/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
rm -rf "$out"
mkdir -p "$work/out"

step "mmdebstrap bookworm ($flavor: ${#packages[@]} packages)"
# The hooks run on the host with the root filesystem as $1.
# No net.ifnames=0: the guest's NIC must not be called eth0. On Debian 12's kernel (6.1)
# `ip link add eth0 netns X type veth ...` looks the name up in the caller's namespace and fails
# with "File exists" when the root namespace has an eth0, and the labs name veths eth0.
cmdline="root=/dev/vda rw console=ttyS0 systemd.show_status=0 quiet"
slim_args=()
((slim)) && { cmdline+=" rootfstype=ext4"; slim_options; }
# Who logs in with the key: root, and in the full image Vagrant's user (sudo without a password).
# The slim image has no sudo and no vagrant user: vm-test.sh logs in as root.
login_hooks=(--customize-hook="mkdir -p \"\$1/root/.ssh\"; cp '$key.pub' \"\$1/root/.ssh/authorized_keys\"; chmod 700 \"\$1/root/.ssh\"")
((slim)) || login_hooks=(
    --customize-hook='chroot "$1" useradd -m -s /bin/bash -G sudo vagrant'
    --customize-hook='echo "vagrant ALL=(ALL) NOPASSWD: ALL" >"$1/etc/sudoers.d/vagrant"; chmod 440 "$1/etc/sudoers.d/vagrant"'
    --customize-hook="for home in root home/vagrant; do mkdir -p \"\$1/\$home/.ssh\"; cp '$key.pub' \"\$1/\$home/.ssh/authorized_keys\"; done; chroot \"\$1\" chown -R vagrant: /home/vagrant/.ssh; chmod 700 \"\$1/root/.ssh\" \"\$1/home/vagrant/.ssh\"")
# Downloaded .debs are kept in $cache/debs, so a changed package set downloads only what is new.
mkdir -p "$cache/debs"
mmdebstrap --variant=apt --format=directory --skip=download/empty --skip=essential/unlink \
    --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
    --setup-hook="sync-in '$cache/debs' /var/cache/apt/archives/" \
    --customize-hook="sync-out /var/cache/apt/archives '$cache/debs'" \
    --include="$(IFS=,; echo "${packages[*]}")" "${slim_args[@]}" \
    --customize-hook='echo tplab >"$1/etc/hostname"; printf "127.0.0.1 localhost\n127.0.1.1 tplab\n::1 localhost\n" >"$1/etc/hosts"' \
    --customize-hook='echo "/dev/vda / ext4 defaults,errors=remount-ro 0 1" >"$1/etc/fstab"' \
    --customize-hook='printf "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n" >"$1/etc/systemd/network/20-wired.network"' \
    --customize-hook='chroot "$1" systemctl enable systemd-networkd.service >/dev/null 2>&1' \
    --customize-hook='chroot "$1" systemctl mask apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service man-db.timer fstrim.timer >/dev/null 2>&1' \
    "${login_hooks[@]}" \
    --customize-hook='rm -f "$1"/etc/ssh/ssh_host_*; printf "[Unit]\nDescription=ssh host keys, made on first boot\nBefore=ssh.service\nConditionPathExists=!/etc/ssh/ssh_host_ed25519_key\n[Service]\nType=oneshot\nExecStart=/usr/bin/ssh-keygen -A\n[Install]\nWantedBy=multi-user.target\n" >"$1/etc/systemd/system/ssh-hostkeys.service"; chroot "$1" systemctl enable ssh-hostkeys.service >/dev/null 2>&1' \
    --customize-hook='echo "UseDNS no" >"$1/etc/ssh/sshd_config.d/tplab.conf"' \
    --customize-hook="cp -L \"\$1\"/boot/vmlinuz-* '$work/out/vmlinuz'; cp -L \"\$1\"/boot/initrd.img-* '$work/out/initrd.img'" \
    bookworm "$work/rootfs" "$sources" >"$work/mmdebstrap.log" 2>&1 ||
    { tail -30 "$work/mmdebstrap.log" >&2; echo "build-box: mmdebstrap failed" >&2; exit 1; }

cp "$work/mmdebstrap.log" "$work/out/"

step "mkfs.ext4 -d (a $size raw disk, no loop device)"
truncate -s "$size" "$work/disk.raw"
mkfs.ext4 -q -F -L tplab-root -d "$work/rootfs" "$work/disk.raw"
rm -rf "$work/rootfs"

step "qemu-img convert to qcow2"
qemu-img convert -f raw -O qcow2 "$work/disk.raw" "$work/out/disk.qcow2"
rm -f "$work/disk.raw"
echo "$cmdline" >"$work/out/cmdline"

step "probe for a usable KVM (a short boot)"
"$here/probe-accel.sh" "$work/out" >"$work/out/accel"
echo "build-box: accelerator: $(cat "$work/out/accel")" >&2

if ((!slim)); then
    step "package the Vagrant libvirt box"
    package_box "$work/out"
fi

printf '%s\n' "${packages[@]}" >"$work/out/packages"
touch "$work/out/done"
mv "$work/out" "$out"
ln -sfn "$flavor-$hash" "$current"
find "$cache" -maxdepth 1 -name "$flavor-*" ! -name "$flavor-$hash" -exec rm -rf {} +  # superseded images
step "done: $out"
echo "$out"
