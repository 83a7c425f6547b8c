#!/bin/sh
# What step checkpoints cost and save on a qemu build: the test VM image
# (tests/vm/build-image.sh) under TCG with three provisioners, built without
# checkpoints, with -checkpoint (the guest is shut down and booted again after each
# step: the price of a consistent disk), and with -resume after changing only the third
# step (the machine boots from the second step's checkpoint). Prints median wall times
# and the checkpoints' sizes.
# Usage: tests/bench/qemu_checkpoint.sh [runs]   (needs qemu-system-x86, qemu-utils)
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-3}
. tests/bench/need.sh
need qemu-system-x86_64 qemu-img mkfs.ext4 apt-get dpkg-deb /bin/busybox
. tests/bench/common.sh

img="$work/image"
sh tests/vm/build-image.sh "$img"
sum=$(sha256sum "$img/disk.qcow2" | cut -d' ' -f1)
echo "listen = 8080" > "$work/app.conf"
template() {   # THIRD: what the third step writes
    cat > "$work/vm.pkr.hcl" <<HCL
source "qemu" "bench" {
  disk_image           = true
  iso_url              = "$img/disk.qcow2"
  iso_checksum         = "sha256:$sum"
  output_directory     = "$work/out"
  vm_name              = "bench.qcow2"
  accelerator          = "tcg"
  headless             = true
  memory               = 512
  qemuargs             = [["-kernel", "$img/vmlinuz"], ["-initrd", "$img/initrd.img"], ["-append", "console=ttyS0 quiet"]]
  ssh_username         = "root"
  ssh_private_key_file = "$img/id_ed25519"
  ssh_timeout          = "5m"
  shutdown_command     = "poweroff"
}
build {
  sources = ["source.qemu.bench"]
  provisioner "shell" {
    inline = ["dd if=/dev/urandom of=/var/one bs=1M count=16 2>/dev/null", "sync"]
  }
  provisioner "file" {
    source      = "$work/app.conf"
    destination = "/etc/app.conf"
  }
  provisioner "shell" {
    inline = ["echo $1 > /etc/third"]
  }
}
HCL
}
build() { rm -rf "$work/out"; "$kiln" build "$@" "$work/vm.pkr.hcl"; }
template first
"$kiln" validate "$work/vm.pkr.hcl" >/dev/null   # fills the compile cache
plain=$(median build)
checkpointed=$(median build -checkpoint)
# Each run changes the third step again: the first two are resumed every time.
: > "$work/resumed"
i=0
while [ "$i" -lt "$runs" ]; do
    template "change$i"
    rm -rf "$work/out"
    s=$(date +%s.%N)
    "$kiln" build -resume "$work/vm.pkr.hcl" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
    e=$(date +%s.%N)
    grep -q "provisioners 1 to 2 of 3 do not run again" "$work/log" || { cat "$work/log"; exit 1; }
    echo "$e - $s" | bc -l >> "$work/resumed"
    i=$((i + 1))
done
resumed=$(sort -n "$work/resumed" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')

printf '\nqemu build of the test VM, TCG, 3 provisioners (median of %s runs)\n\n' "$runs"
printf '| run | wall |\n|---|---|\n'
printf '| without checkpoints | %.1f s |\n' "$plain"
printf '| -checkpoint (shutdown and boot after steps 1 and 2, shutdown after 3) | %.1f s |\n' "$checkpointed"
printf '| -resume, step 3 changed (boots from checkpoint 2) | %.1f s |\n' "$resumed"
printf '| cost per checkpoint | %.1f s |\n' "$(echo "($checkpointed - $plain) / 2" | bc -l)"
echo
"$kiln" cache list | awk 'NR == 1 || / disk /'
