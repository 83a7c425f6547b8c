#!/bin/sh
# The disk-convert post-processor beside qemu-img convert run by hand, on a 2 GiB
# mostly-empty raw disk (an ext4 filesystem with DATA_MIB of files, default 64; a
# small installed system is a few hundred): each format alone,
# then all five at once (Kiln runs them in parallel; by hand, one after the other and
# in parallel with the shell's &). Paired runs with farm-bench, medians; the output
# sizes (apparent and allocated) must equal qemu-img's.
# Target: Kiln within 1.1 times qemu-img by hand for each format.
# Usage: tests/bench/disk_convert.sh [runs]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-5}
data=${DATA_MIB:-64}
cargo build --release -p kiln >/dev/null 2>&1
kiln=$(pwd)/target/release/kiln
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
export NO_COLOR=1 KILN_CACHE_DIR="$work/cache" SOURCE_DATE_EPOCH=1700000000
. tests/bench/need.sh
need qemu-img mkfs.ext4
command -v farm-bench > /dev/null || { echo "benchmark: farm-bench (paired timing) is required on PATH" >&2; exit 1; }
cd "$work"
mkdir -p fs
head -c $((data << 20)) /dev/urandom > fs/data.bin
mkfs.ext4 -q -F -d fs disk.raw 2G
opts() {
    case $1 in
        vmdk) echo "subformat=monolithicSparse" ;;
        vhdx) echo "subformat=dynamic" ;;
        vpc) echo "subformat=fixed,force_size=on" ;;
        *) echo "" ;;
    esac
}
ext() { [ "$1" = vpc ] && echo vhd || echo "$1"; }
template() {   # FORMATS (a JSON list)
    cat > t.pkr.hcl <<HCL
source "null" "d" {
  communicator = "none"
}
build {
  sources = ["source.null.d"]
  post-processors {
    post-processor "artifice" {
      files = ["disk.raw"]
    }
    post-processor "disk-convert" {
      formats             = $1
      output              = "kiln/{{.BuildName}}.{{.Extension}}"
      keep_input_artifact = true
    }
  }
}
HCL
}
by_hand() {   # FORMAT -> a command line converting disk.raw into hand/
    o=$(opts "$1")
    if [ -n "$o" ]; then
        echo "qemu-img convert -f raw -O $1 -o $o disk.raw hand/d.$(ext "$1")"
    else
        echo "qemu-img convert -f raw -O $1 disk.raw hand/d.$(ext "$1")"
    fi
}
median() {   # FILE ROW -> the median of that row of farm-bench's report
    awk -v row="$2" 'index($0, row) == 1 { print $(NF - 1) }' "$1"
}
mkdir -p hand kiln
echo "2 GiB raw disk ($data MiB of data), $(nproc) cores, $runs paired runs each (medians)"
echo '| format | Kiln disk-convert | qemu-img by hand | ratio | size (apparent / allocated), Kiln | qemu-img |'
echo '|---|---|---|---|---|---|'
for f in qcow2 vmdk vdi vhdx vpc; do
    template "[\"$f\"]"
    "$kiln" validate t.pkr.hcl > /dev/null
    farm-bench -n "$runs" --timeout 600 --vs "sh -c 'rm -f hand/*; $(by_hand $f)'" -- "$kiln" build t.pkr.hcl > report 2>&1
    a=$(median report "A wall s"); b=$(median report "B wall s"); r=$(median report "A/B wall")
    k=kiln/d.$(ext $f); h=hand/d.$(ext $f)
    ks="$(stat -c %s "$k") / $(( $(stat -c %b "$k") * 512 ))"
    hs="$(stat -c %s "$h") / $(( $(stat -c %b "$h") * 512 ))"
    [ "$(stat -c %s "$k")" = "$(stat -c %s "$h")" ] || { echo "$f: sizes differ: $ks vs $hs"; exit 1; }
    echo "| $f | ${a} s | ${b} s | ${r} | $ks | $hs |"
done
template '["qcow2", "vmdk", "vdi", "vhdx", "vpc"]'
"$kiln" validate t.pkr.hcl > /dev/null
serial=""; parallel=""
for f in qcow2 vmdk vdi vhdx vpc; do
    serial="$serial $(by_hand $f);"
    parallel="$parallel $(by_hand $f) &"
done
farm-bench -n "$runs" --timeout 1200 --vs "sh -c 'rm -f hand/*;$serial'" -- "$kiln" build t.pkr.hcl > report 2>&1
echo "| all five, by hand one after another | $(median report "A wall s") s | $(median report "B wall s") s | $(median report "A/B wall") | | |"
farm-bench -n "$runs" --timeout 1200 --vs "sh -c 'rm -f hand/*;$parallel wait'" -- "$kiln" build t.pkr.hcl > report 2>&1
echo "| all five, by hand in parallel (&) | $(median report "A wall s") s | $(median report "B wall s") s | $(median report "A/B wall") | | |"
