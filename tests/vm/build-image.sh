#!/bin/sh
# Builds the small bootable machine the qemu builder's tests boot, from Debian's packages:
#
#   OUT/vmlinuz        Debian's cloud kernel (linux-image-cloud-amd64, downloaded, not installed)
#   OUT/vmlinuz-generic, OUT/initrd-generic.img
#                      Debian's generic kernel (linux-image-amd64), which has the floppy
#                      driver, and its initramfs (also loading ext4, floppy and FAT)
#   OUT/initrd.img     busybox + the virtio modules; mounts /dev/vda and switches to it
#   OUT/disk.qcow2     an ext4 root (no partition table) with busybox, OpenSSH's sshd,
#                      sftp-server and scp, started by busybox init, and the CD
#                      modules /usr/sbin/kiln-load-media loads
#   OUT/id_ed25519     the key root logs in with
#
# With `kiln.console` on the kernel command line, the root starts a shell on tty1
# instead of sshd: the boot_command test types into it.
#
# Usage: tests/vm/build-image.sh OUT   (needs root for apt-get download; idempotent)
set -eu
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
if [ -f "$out/disk.qcow2" ] && [ -f "$out/initrd.img" ] && [ -f "$out/vmlinuz" ] && [ -f "$out/initrd-generic.img" ]; then
    exit 0
fi
work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

# A kernel: the package the metapackage $1 currently depends on, unpacked into $2.
unpack_kernel() {
    depends() {
        apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }'
    }
    pkg=$(depends "$1")
    if [ -z "$pkg" ]; then
        apt-get update -qq >&2 || true
        pkg=$(depends "$1")
    fi
    [ -n "$pkg" ] || { echo "build-image: no $1 in apt's lists (run apt-get update)" >&2; exit 1; }
    apt-get download -q "$pkg" 2>&1 | grep -v 'unsandboxed' >&2 || true
    dpkg-deb -x ./"$pkg"_*.deb "$2"
}

# An initramfs from the kernel tree $1 with the modules $2 (in load order: each after
# the ones it needs), written to $3: loads them, mounts the root disk, switches to it.
make_initramfs() {
    rm -rf initramfs
    mkdir -p initramfs/bin initramfs/dev initramfs/proc initramfs/sys initramfs/newroot initramfs/lib/modules
    cp /bin/busybox initramfs/bin/busybox
    for m in $2; do
        cp "$(find "$1"/lib/modules -name "$m.ko")" initramfs/lib/modules/
    done
    cat > initramfs/init <<EOF
#!/bin/busybox sh
/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $2; do insmod /lib/modules/\$m.ko; done
i=0
while [ ! -b /dev/vda ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
mount -t ext4 -o rw /dev/vda /newroot || { echo "initramfs: cannot mount /dev/vda"; exec sh; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/init
EOF
    chmod 755 initramfs/init
    (cd initramfs && find . | busybox cpio -o -H newc 2>/dev/null | gzip -9) > "$3"
}

# Debian's cloud kernel (virtio as modules, ext4 built in) boots every test.
unpack_kernel linux-image-cloud-amd64 kernel
kver=$(ls kernel/lib/modules)
cp kernel/boot/vmlinuz-"$kver" vmlinuz
virtio="virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_blk failover net_failover virtio_net"
make_initramfs kernel "$virtio" initrd.img

# Debian's generic kernel boots the guest that reads a floppy: the cloud kernel has no
# floppy driver. Its initramfs also loads ext4 (a module there), the floppy driver and
# FAT.
unpack_kernel linux-image-amd64 generic
gver=$(ls generic/lib/modules)
cp generic/boot/vmlinuz-"$gver" vmlinuz-generic
make_initramfs generic "$virtio crc16 crc32c_generic mbcache jbd2 ext4 floppy fat vfat nls_cp437 nls_ascii" initrd-generic.img

# The root: busybox, sshd with the libraries it links, busybox init.
root=root
mkdir -p $root/bin $root/sbin $root/usr/bin $root/usr/sbin $root/etc/ssh $root/etc/init.d \
    $root/root/.ssh $root/proc $root/sys $root/dev $root/run $root/tmp $root/var/log
chmod 1777 $root/tmp
chmod 700 $root/root
cp /bin/busybox $root/bin/busybox
for applet in $(busybox --list); do
    [ -e $root/bin/$applet ] || ln -s busybox $root/bin/$applet
done
ln -sf ../bin/busybox $root/sbin/init
copy_with_libs() {
    mkdir -p "$root$(dirname "$1")"
    cp "$1" "$root$1"
    for lib in $(ldd "$1" | awk '/=> \// { print $3 } /^\t\/lib/ { print $1 }'); do
        mkdir -p "$root$(dirname "$lib")"
        [ -e "$root$lib" ] || cp -L "$lib" "$root$lib"
    done
}
copy_with_libs /usr/sbin/sshd
copy_with_libs /usr/lib/openssh/sftp-server
copy_with_libs /usr/bin/scp
mkdir -p $root/lib64
[ -e $root/lib64/ld-linux-x86-64.so.2 ] || cp -L /lib64/ld-linux-x86-64.so.2 $root/lib64/
cat > $root/etc/passwd <<'EOF'
root:x:0:0:root:/root:/bin/sh
sshd:x:100:65534::/run/sshd:/bin/false
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat > $root/etc/group <<'EOF'
root:x:0:
nogroup:x:65534:
EOF
echo 'root:*:19000:0:99999:7:::' > $root/etc/shadow
chmod 600 $root/etc/shadow
echo kiln-test-vm > $root/etc/hostname
cat > $root/etc/ssh/sshd_config <<'EOF'
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
AuthorizedKeysFile .ssh/authorized_keys
UsePAM no
UseDNS no
PidFile /run/sshd.pid
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
ssh-keygen -q -t ed25519 -N '' -C kiln-test-vm-host -f $root/etc/ssh/ssh_host_ed25519_key
ssh-keygen -q -t ed25519 -N '' -C kiln-test-vm -f id_ed25519
cp id_ed25519.pub $root/root/.ssh/authorized_keys
chmod 600 $root/root/.ssh/authorized_keys
cat > $root/etc/inittab <<'EOF'
::sysinit:/etc/init.d/rcS
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/sync
::shutdown:/bin/umount -a -r
EOF
cat > $root/etc/init.d/rcS <<'EOF'
#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs -o mode=755 tmpfs /run
mkdir -p /dev/pts /run/sshd
mount -t devpts devpts /dev/pts
mount -o remount,rw /
hostname -F /etc/hostname
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
if grep -q kiln.console /proc/cmdline; then
    # A shell on the first virtual terminal: what a boot_command types arrives here.
    setsid sh -c 'exec sh </dev/tty1 >/dev/tty1 2>&1' &
else
    /usr/sbin/sshd -e
fi
echo "kiln-test-vm: up"
EOF
chmod 755 $root/etc/init.d/rcS

# CD drives and their filesystem, loaded on demand by kiln-load-media (the cloud kernel
# has no floppy driver; its TPM driver is built in).
media_modules="scsi_common scsi_mod cdrom sr_mod libata ata_piix isofs"
mkdir -p $root/lib/modules/media
for m in $media_modules; do
    cp "$(find kernel/lib/modules -name "$m.ko")" $root/lib/modules/media/
done
cat > $root/usr/sbin/kiln-load-media <<EOF
#!/bin/sh
for m in $media_modules; do insmod /lib/modules/media/\$m.ko 2>/dev/null; done
i=0
while [ ! -b /dev/sr0 ] && [ \$i -lt 100 ]; do sleep 0.1; i=\$((i + 1)); done
EOF
chmod 755 $root/usr/sbin/kiln-load-media

truncate -s 128M disk.raw
mkfs.ext4 -q -F -L kiln-root -d $root disk.raw
qemu-img convert -f raw -O qcow2 disk.raw disk.qcow2

mv vmlinuz initrd.img vmlinuz-generic initrd-generic.img id_ed25519 id_ed25519.pub "$out"/
mv disk.qcow2 "$out"/disk.qcow2
