#!/bin/sh
# The disk-convert post-processor beside qemu-img convert run by hand, on a 2 GiB
# mostly-empty raw disk (an ext4 filesystem with DATA_MIB of files, default 64; a
# small installed system is a few hundred), sparse, or with ALLOCATED=1 written whole
# (zeros where the filesystem has nothing, as `dd` from a device leaves one): each
# format alone,
# then all five at once (Kiln runs them in parallel; by hand, one after the other and
# in parallel with the shell's &). Paired runs (Kiln, then by hand, in turn, after one
# unmeasured run of each), medians; the output sizes (apparent and allocated) must
# equal qemu-img's. TMPDIR chooses where the disk and the outputs are (a tmpfs such as
# /dev/shm takes the disk's writeback out of the figures).
# Target: Kiln within 1.1 times qemu-img by hand for each format.
# Usage: tests/bench/disk_convert.sh [runs]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-11}
data=${DATA_MIB:-64}
cargo build --release -p kiln >/dev/null 2>&1
kiln=$(pwd)/target/release/kiln
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
export NO_COLOR=1 KILN_CACHE_DIR="$work/cache" SOURCE_DATE_EPOCH=1700000000
. tests/bench/need.sh
need qemu-img mkfs.ext4 python3
cd "$work"
mkdir -p fs
head -c $((data << 20)) /dev/urandom > fs/data.bin
if [ "${ALLOCATED:-0}" = 1 ]; then
    # Every block written (zeros where the filesystem has nothing), as `dd` from a
    # device leaves a disk: qemu-img reads all 2 GiB to find what is empty.
    dd if=/dev/zero of=disk.raw bs=1M count=2048 status=none
    mkfs.ext4 -q -F -E nodiscard -d fs disk.raw 2G
    kind="fully allocated"
else
    mkfs.ext4 -q -F -d fs disk.raw 2G
    kind="sparse"
fi
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
paired() {   # A B: the commands A (words) and B (a shell command line), in turn ->
             # "A's median B's median the median of A/B", seconds
    python3 - "$runs" "$1" "$2" <<'PY'
import shlex, statistics, subprocess, sys, time
runs, a, b = int(sys.argv[1]), shlex.split(sys.argv[2]), ["sh", "-c", sys.argv[3]]
def once(argv):
    start = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"failed: {argv}")
    return took
once(a); once(b)
ta, tb = [], []
for _ in range(runs):
    ta.append(once(a))
    tb.append(once(b))
ratio = statistics.median(x / y for x, y in zip(ta, tb))
print(f"{statistics.median(ta):.3f} {statistics.median(tb):.3f} {ratio:.4f}")
PY
}
mkdir -p hand kiln
echo "2 GiB raw disk, $kind ($data MiB of data; $(( $(stat -c %b disk.raw) / 2048 )) MiB allocated), $(nproc) cores, $runs paired runs each (medians)"
echo '| format | Kiln disk-convert | qemu-img by hand | ratio | size (apparent / allocated), Kiln | qemu-img |'
echo '|---|---|---|---|---|---|'
for f in qcow2 vmdk vdi vhdx vpc; do
    template "[\"$f\"]"
    "$kiln" validate t.pkr.hcl > /dev/null
    set -- $(paired "$kiln build t.pkr.hcl" "rm -f hand/*; $(by_hand $f)")
    a=$1; b=$2; r=$3
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
set -- $(paired "$kiln build t.pkr.hcl" "rm -f hand/*;$serial")
echo "| all five, by hand one after another | $1 s | $2 s | $3 | | |"
set -- $(paired "$kiln build t.pkr.hcl" "rm -f hand/*;$parallel wait")
echo "| all five, by hand in parallel (&) | $1 s | $2 s | $3 | | |"
