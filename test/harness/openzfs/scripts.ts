// The shell that builds an OpenZFS guest image and runs inside it. Each
// build script runs as `bash -euo pipefail -c SCRIPT name args...` inside a
// private mount namespace (unshare --mount), so a build that dies leaves no
// proc/sys/dev mount behind in the cache. The guest scripts are written into
// the image: PID 1 (no systemd: it is not needed and slow to boot under TCG)
// and the script that loads zfs after a restore.

/** mounts a chroot's API file systems and the shared .deb cache; `leave` undoes it */
const CHROOT_FUNCS = `
enter() {
  mount -t proc proc "$1/proc"; mount -t sysfs sys "$1/sys"
  mount --bind /dev "$1/dev"; mount --bind /dev/pts "$1/dev/pts"
  mkdir -p "$1/var/cache/apt/archives"; mount --bind "$DEBS" "$1/var/cache/apt/archives"
}
leave() { umount "$1/var/cache/apt/archives" "$1/dev/pts" "$1/dev" "$1/sys" "$1/proc"; }
export DEBIAN_FRONTEND=noninteractive LC_ALL=C.UTF-8
APT_OPTS="-y -q --no-install-recommends -o Dpkg::Use-Pty=0"
`;

/**
 * The shared base: a minimal bookworm with the guest kernel and the tools the
 * tests use (mbuffer, pv, compressors), but no zfs. Both flavours start from it.
 * Args: rootfs mirror security-mirror debs-dir kabi kver
 */
export const BUILD_BASE = `${CHROOT_FUNCS}
R=$1 MIRROR=$2 SECURITY=$3 DEBS=$4 KABI=$5 KVER=$6
debootstrap --variant=minbase --components=main,contrib --cache-dir="$DEBS" \\
  --include=openssh-server,kmod,iproute2,procps,udev,libstdc++6 bookworm "$R" "$MIRROR"
K=/usr/share/keyrings/debian-archive-keyring.gpg
cat > "$R/etc/apt/sources.list" <<EOF
deb [signed-by=$K] $MIRROR bookworm main contrib
deb [signed-by=$K] $MIRROR bookworm-updates main contrib
deb [signed-by=$K] $SECURITY bookworm-security main contrib
deb [signed-by=$K] $MIRROR bookworm-backports main contrib
EOF
# no daemon may start inside the chroot; no documentation in the image
printf '#!/bin/sh\\nexit 101\\n' > "$R/usr/sbin/policy-rc.d"; chmod 755 "$R/usr/sbin/policy-rc.d"
printf 'path-exclude /usr/share/doc/*\\npath-exclude /usr/share/man/*\\npath-exclude /usr/share/locale/*\\npath-exclude /usr/share/info/*\\n' \\
  > "$R/etc/dpkg/dpkg.cfg.d/zettabee-nodoc"
enter "$R"
chroot "$R" apt-get -q update
chroot "$R" apt-get install $APT_OPTS "linux-image-$KABI=$KVER" mbuffer pv zstd lz4 lzop xz-utils
leave "$R"
test -e "$R/boot/vmlinuz-$KABI"
`;

/**
 * DKMS builds the zfs module for the guest kernel in a throwaway copy of the
 * base; the .ko files are packaged as zfs-modules-<kabi> (Provides:
 * zfs-modules, which zfsutils-linux accepts instead of zfs-dkms), so the image
 * carries no compiler and a rebuild of the image skips DKMS.
 * Args: builder-rootfs debs-dir kabi kver zfs-version apt-release output.deb
 */
export const BUILD_MODULES = `${CHROOT_FUNCS}
R=$1 DEBS=$2 KABI=$3 KVER=$4 ZVER=$5 REL=$6 OUT=$7
enter "$R"
chroot "$R" apt-get install $APT_OPTS "linux-headers-$KABI=$KVER" dkms build-essential
chroot "$R" apt-get install $APT_OPTS -t "$REL" "zfs-dkms=$ZVER"
leave "$R"
M=$R/lib/modules/$KABI/updates/dkms
if ! ls "$M"/zfs.ko* "$M"/spl.ko* >/dev/null 2>&1; then
  tail -n 40 "$R"/var/lib/dkms/zfs/*/"$KABI"/x86_64/log/make.log 2>/dev/null || true
  echo "DKMS produced no zfs.ko for $KABI in $M" >&2; exit 1
fi
P=$(dirname "$OUT")/pkg.$$; rm -rf "$P"; mkdir -p "$P/DEBIAN" "$P/lib/modules/$KABI/updates"
cp -a "$M" "$P/lib/modules/$KABI/updates/"
cat > "$P/DEBIAN/control" <<EOF
Package: zfs-modules-$KABI
Version: $ZVER
Architecture: amd64
Maintainer: zettabee test bed <root@localhost>
Provides: zfs-modules
Depends: linux-image-$KABI
Section: kernel
Priority: optional
Description: OpenZFS $ZVER modules for $KABI, built by DKMS for the zettabee test bed
EOF
dpkg-deb --build --root-owner-group "$P" "$OUT.tmp" >/dev/null
mv "$OUT.tmp" "$OUT"; rm -rf "$P"
`;

/**
 * The image's root: the base plus the module package, zfsutils-linux of the
 * flavour, node for zettabee inside the guest, and the guest's own scripts.
 * Prints the virtio block modules in load order (for the initrd).
 * Args: rootfs debs-dir kabi zfs-version apt-release modules.deb node-binary
 */
export const BUILD_ROOTFS = `${CHROOT_FUNCS}
R=$1 DEBS=$2 KABI=$3 ZVER=$4 REL=$5 MODDEB=$6 NODE=$7
enter "$R"
cp "$MODDEB" "$R/tmp/zfs-modules.deb"
chroot "$R" dpkg -i /tmp/zfs-modules.deb >/dev/null
chroot "$R" apt-get install $APT_OPTS -t "$REL" "zfsutils-linux=$ZVER"
chroot "$R" depmod "$KABI"
chroot "$R" apt-get check >/dev/null
chroot "$R" dpkg-query -W -f '\${Package} \${Version}\\n' > "$R/../packages.txt"
chroot "$R" modprobe -a --show-depends -S "$KABI" virtio_pci virtio_blk \\
  | awk '$1 == "insmod" { n = $2; sub(/.*\\//, "", n); sub(/\\.ko.*/, "", n); if (!seen[n]++) print n }' > "$R/../initrd-modules"
leave "$R"
ls "$R/lib/modules/$KABI/updates/dkms/zfs.ko"* >/dev/null
install -m 755 "$NODE" "$R/usr/local/bin/node"
rm -rf "$R"/var/lib/apt/lists/* "$R"/var/cache/apt/*.bin "$R"/var/log/* "$R"/tmp/* \\
  "$R"/usr/share/doc "$R"/usr/share/man "$R"/usr/share/locale "$R"/usr/share/info "$R"/boot/initrd.img-*
mkdir -p "$R/etc/zfs" "$R/pools" "$R/opt/zettabee"
`;

/** PID 1 of a guest: file systems, the network qemu's user-mode net expects, udev, sshd; zfs comes later */
export const GUEST_INIT = `#!/bin/bash
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root
mount -t proc proc /proc; mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mount -t tmpfs -o mode=755 tmpfs /run
ln -sf /proc/self/fd /dev/fd; ln -sf fd/0 /dev/stdin; ln -sf fd/1 /dev/stdout; ln -sf fd/2 /dev/stderr
mount -o remount,rw /
ip link set lo up
modprobe virtio_net; modprobe virtio_rng 2>/dev/null
for i in $(seq 100); do [ -e /sys/class/net/eth0 ] && break; sleep 0.05; done
ip link set eth0 up; ip addr add 10.0.2.15/24 dev eth0; ip route add default via 10.0.2.2
mkdir -p /run/sshd; /usr/sbin/sshd -E /run/sshd.log
# zpool create on a whole disk waits for udev to see its partitions
/lib/systemd/systemd-udevd --daemon --resolve-names=never >/dev/null 2>&1
udevadm trigger --action=add --subsystem-match=block --subsystem-match=misc
udevadm settle -t 60
touch /run/zettabee-booted
echo "ZETTABEE-GUEST-BOOTED $(cat /proc/uptime)" > /dev/ttyS0
trap 'sync; echo o > /proc/sysrq-trigger' TERM USR2
# PID 1 reaps every orphan: bash's wait does
while :; do sleep 3600 & wait $!; done
`;

/**
 * Run after every boot or restore, never before the state is saved: the SPL
 * seeds its guid generator when the module loads, so guests restored from one
 * saved state with zfs loaded would create pools and datasets with the same
 * guids. Mixes host randomness into the kernel's pool, forces a reseed
 * (RNDRESEEDCRNG), sets the clock, host name and host id, then loads zfs.
 * Args: hex-randomness epoch-seconds hostname hostid
 */
export const GUEST_START_ZFS = `#!/bin/sh
set -e
perl -e 'open(my $f, ">", "/dev/urandom") or die "urandom: $!"; syswrite($f, pack("H*", $ARGV[0])) or die "write: $!"; ioctl($f, 0x5207, 0) or die "RNDRESEEDCRNG: $!"' "$1"
date -s "@$2" >/dev/null
echo "$3" > /proc/sys/kernel/hostname
zgenhostid -f "$4"
modprobe zfs
udevadm settle -t 60
touch /run/zettabee-ready
`;

/** the initrd's /init (busybox): the virtio block stack, then the real root */
export const INITRD_INIT = `#!/bin/busybox sh
B=/bin/busybox
$B mount -t proc proc /proc; $B mount -t sysfs sys /sys; $B mount -t devtmpfs dev /dev
for m in $($B cat /modules/order); do $B insmod /modules/$m.ko || echo "initrd: insmod $m failed"; done
i=0; while [ ! -b /dev/vda ] && [ $i -lt 500 ]; do $B usleep 20000; i=$((i+1)); done
$B mount -t ext4 -o rw /dev/vda /newroot || { echo "initrd: cannot mount /dev/vda"; exec $B sh; }
$B umount /proc /sys; $B mount --move /dev /newroot/dev
exec $B switch_root /newroot /sbin/zettabee-init
`;

export const SSHD_CONFIG = `HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
MaxSessions 100
MaxStartups 100:30:200
# under TCG, AES-GCM (-cpu max emulates AES-NI) is the fastest cipher; offering
# only GCM makes every client pick it
Ciphers aes128-gcm@openssh.com,aes256-gcm@openssh.com
AcceptEnv LANG LC_*
`;
