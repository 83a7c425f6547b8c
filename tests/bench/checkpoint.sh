#!/bin/sh
# Step checkpoints on a container build of 10 provisioners (each: a few seconds of work
# and a 4 MB file of its own). Times, in paired runs (A B A B ...), medians:
#   - the build without checkpoints, cold;
#   - the same with -checkpoint, into an empty cache (the cost of taking them);
#   - -resume after changing only step 10 (the target: under 15% of the cold build);
# and prints the checkpoints' storage beside the sum of the image's layers and beside
# ten copies of the root filesystem (what full snapshots would keep).
# Needs root (Linux namespaces, overlayfs). Usage: tests/bench/checkpoint.sh [runs]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-5}
. tests/bench/need.sh
need /usr/bin/time /bin/busybox python3
cargo build --release -p kiln >/dev/null 2>&1
kiln=$(pwd)/target/release/kiln
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
export NO_COLOR=1 SOURCE_DATE_EPOCH=1700000000 TMPDIR="$work/tmp"
mkdir -p "$work/rootfs/bin" "$work/tmp"
cp /bin/busybox "$work/rootfs/bin/busybox"
for c in sh head gzip md5sum cat echo; do ln -s busybox "$work/rootfs/bin/$c"; done

# template LAST: ten steps; step 10 writes LAST into its file.
template() {
    {
        echo 'source "container" "app" {'
        echo '  rootfs       = "rootfs"'
        echo '  commit       = true'
        echo '  output_image = "out/app.tar"'
        echo '}'
        echo 'build {'
        echo '  sources = ["source.container.app"]'
        i=1
        while [ "$i" -le 10 ]; do
            tag=$i; [ "$i" = 10 ] && tag=$1
            printf '  provisioner "shell" {\n    inline = ["head -c 20000000 /dev/urandom | gzip -1 | md5sum", "head -c 4000000 /dev/urandom > /step%s", "echo %s >> /step%s"]\n  }\n' "$i" "$tag" "$i"
            i=$((i + 1))
        done
        echo '}'
    } > "$work/t.pkr.hcl"
}

# timed FILE COMMAND...: appends the wall seconds of one run to FILE.
timed() {
    file=$1; shift
    /usr/bin/time -f '%e' -o "$work/time" "$@" > "$work/log" 2>&1 || { cat "$work/log"; exit 1; }
    cat "$work/time" >> "$file"
}

median() { sort -n "$1" | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

cd "$work"
template a
# One warm-up: the base's layer digests are cached.
KILN_CACHE_DIR="$work/warm" "$kiln" build t.pkr.hcl > /dev/null
: > plain; : > cold; : > resumed
n=0
while [ "$n" -lt "$runs" ]; do
    template a
    KILN_CACHE_DIR="$work/warm" timed plain "$kiln" build t.pkr.hcl
    rm -rf cache; cp -a warm cache
    KILN_CACHE_DIR="$work/cache" timed cold "$kiln" build -checkpoint t.pkr.hcl
    # Only step 10 changed: steps 1 to 9 are resumed.
    template "b$n"
    KILN_CACHE_DIR="$work/cache" timed resumed "$kiln" build -resume t.pkr.hcl
    grep -q "provisioners 1 to 9 of 10 do not run again" log || { cat log; exit 1; }
    n=$((n + 1))
done
p=$(median plain); c=$(median cold); r=$(median resumed)
echo "Container build, 10 provisioners, busybox base; medians of $runs paired runs"
echo
echo "| run | wall | vs without checkpoints |"
echo "|---|---|---|"
printf '| without checkpoints | %s s | |\n' "$p"
printf '| -checkpoint, empty cache | %s s | %s |\n' "$c" "$(awk -v a="$c" -v b="$p" 'BEGIN { printf "%.2f", a / b }')"
printf '| -resume, step 10 changed | %s s | %s of the cold -checkpoint build (target < 0.15) |\n' "$r" "$(awk -v a="$r" -v b="$c" 'BEGIN { printf "%.2f", a / b }')"
echo
# Storage: one cache's checkpoints of one build (the last -checkpoint run's keys).
rm -rf one; cp -a warm one
template a
KILN_CACHE_DIR="$work/one" "$kiln" build -checkpoint t.pkr.hcl > log
trees=$(du -sb one/checkpoints | cut -f1)
layers=$(KILN_CACHE_DIR="$work/one" "$kiln" cache list | awk '/checkpoint\(s\)/ { print $3 }')
image=$(python3 -c "
import json, tarfile, sys
t = tarfile.open('out/app.tar')
idx = json.load(t.extractfile('index.json'))
m = json.load(t.extractfile('blobs/sha256/' + idx['manifests'][0]['digest'].split(':')[1]))
print(sum(l['size'] for l in m['layers'][1:]))
")
rootfs=$(du -sb rootfs | cut -f1)
echo "| storage | bytes |"
echo "|---|---|"
printf '| 10 checkpoints (unpacked trees and gzip layers) | %s |\n' "$layers"
printf '|   of which the unpacked trees | %s |\n' "$trees"
printf '| the image'"'"'s 10 step layers (gzip) | %s |\n' "$image"
# Snapshot i of a full copy holds the base and the i files of 4 MB so far.
printf '| 10 full snapshots of the root filesystem, one after each step | %s |\n' "$((rootfs * 10 + 4000000 * 55))"
