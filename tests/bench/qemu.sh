#!/bin/sh
# Benchmarks the qemu builder against Packer (Debian's `packer`, whose qemu builder is
# built in): one JSON template, run unchanged by both, boots the test VM image
# (tests/vm/build-image.sh) under TCG, provisions it with a shell and a file
# provisioner, powers it off and compacts the qcow2, with no boot wait in either.
# Prints the median wall times.
# Usage: tests/bench/qemu.sh [runs]   (needs packer, qemu-system-x86, qemu-utils)
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-3}
. tests/bench/need.sh
need packer qemu-system-x86_64 qemu-img mkfs.ext4 apt-get dpkg-deb /bin/busybox
. tests/bench/common.sh
export CHECKPOINT_DISABLE=1 PACKER_NO_COLOR=1 PACKER_CACHE_DIR="$work/packer_cache"

img="$work/image"
sh tests/vm/build-image.sh "$img"
sum=$(sha256sum "$img/disk.qcow2" | cut -d' ' -f1)
echo "listen = 8080" > "$work/app.conf"
# boot_wait = "-1s" (no wait) in both: Packer otherwise sleeps its default 10 s before
# connecting even with no boot_command, and the comparison is of the work alone.
cat > "$work/vm.json" <<JSON
{
  "builders": [{
    "type": "qemu",
    "name": "bench",
    "disk_image": true,
    "iso_url": "$img/disk.qcow2",
    "iso_checksum": "sha256:$sum",
    "output_directory": "$work/out",
    "vm_name": "bench.qcow2",
    "format": "qcow2",
    "accelerator": "tcg",
    "headless": true,
    "memory": 512,
    "boot_wait": "-1s",
    "qemuargs": [["-kernel", "$img/vmlinuz"], ["-initrd", "$img/initrd.img"], ["-append", "console=ttyS0 quiet"]],
    "ssh_username": "root",
    "ssh_private_key_file": "$img/id_ed25519",
    "ssh_timeout": "5m",
    "shutdown_command": "poweroff"
  }],
  "provisioners": [
    { "type": "shell", "inline": ["echo provisioned > /etc/motd", "uname -r"] },
    { "type": "file", "source": "$work/app.conf", "destination": "/etc/app.conf" }
  ]
}
JSON

build() { rm -rf "$work/out"; "$@" "$work/vm.json"; }
"$kiln" validate "$work/vm.json" >/dev/null   # fills the compile cache
k=$(median build "$kiln" build)
k_motd=$(qemu-img convert -O raw "$work/out/bench.qcow2" "$work/raw" && debugfs -R 'cat /etc/motd' "$work/raw" 2>/dev/null)
p=$(median build packer build)
p_motd=$(qemu-img convert -O raw "$work/out/bench.qcow2" "$work/raw" && debugfs -R 'cat /etc/motd' "$work/raw" 2>/dev/null)
rm -f "$work/raw"
[ "$k_motd" = provisioned ] && [ "$p_motd" = provisioned ] || { echo "an image lacks the provisioning" >&2; exit 1; }

printf '\n%-52s %10s %10s\n' "qemu build, TCG (median of $runs runs)" "kiln" "packer"
printf '%-52s %10.1f %10.1f\n' "wall time, s" "$k" "$p"
printf '\nratio kiln/packer %.2f (target <= 0.70)\n' "$(echo "$k / $p" | bc -l)"
