#!/bin/sh
# What bounding components' computing time costs: the same builds with the cpu meter on
# (as always) and off (KILN_BENCH_UNMETERED=1, which exists for this benchmark only: the
# call hooks that follow a guest in and out of wasm are not installed), in alternating
# runs, on the builtin steps the meter touches most:
#   (a) the shell provisioner: 20 inline steps against a loopback sshd
#   (b) the compress post-processor (tar.zst) of a 256 MiB artifact
# Prints each median and the ratio metered/unmetered. Target: at most 1.05.
# Usage: tests/bench/budget.sh [runs]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-7}
. tests/bench/common.sh

{ source_block; cat <<HCL; } > "$work/shell.pkr.hcl"
build {
  sources = ["source.null.bench"]
HCL
i=0
while [ "$i" -lt 20 ]; do
    echo '  provisioner "shell" { inline = ["true"] }' >> "$work/shell.pkr.hcl"
    i=$((i + 1))
done
echo '}' >> "$work/shell.pkr.hcl"

. tests/bench/artifact.sh
disk_image 256
artifact_template compress.pkr.hcl 'post-processor "compress" {
      output              = "out.tar.zst"
      compression_level   = 3
      keep_input_artifact = true
    }'

cd "$work"
"$kiln" validate shell.pkr.hcl > /dev/null   # compiles the components into the cache once
"$kiln" validate compress.pkr.hcl > /dev/null

# paired TEMPLATE: runs it metered and unmetered in turn, $runs times each; prints
# "metered-median unmetered-median median-of-ratios".
paired() {
    : > "$work/pairs"
    i=0
    while [ "$i" -lt "$runs" ]; do
        s=$(date +%s.%N); "$kiln" build "$1" > /dev/null 2>&1 || { echo "failed: $1" >&2; exit 1; }
        m=$(echo "$(date +%s.%N) - $s" | bc -l)
        s=$(date +%s.%N); KILN_BENCH_UNMETERED=1 "$kiln" build "$1" > /dev/null 2>&1 || exit 1
        u=$(echo "$(date +%s.%N) - $s" | bc -l)
        echo "$m $u" >> "$work/pairs"
        i=$((i + 1))
    done
    awk '{ m[NR] = $1; u[NR] = $2; r[NR] = $1 / $2 }
        function med(a, n,   i, j, t) {
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
            return a[int((n + 1) / 2)]
        }
        END { printf "%.3f %.3f %.3f", med(m, NR), med(u, NR), med(r, NR) }' "$work/pairs"
}

printf '%-44s %10s %10s %8s\n' "build (median of $runs paired runs)" "metered" "unmetered" "ratio"
set -- $(paired shell.pkr.hcl)
printf '%-44s %9ss %9ss %8s\n' "(a) 20 shell steps over SSH" "$1" "$2" "$3"
set -- $(paired compress.pkr.hcl)
printf '%-44s %9ss %9ss %8s\n' "(b) compress 256 MiB to tar.zst" "$1" "$2" "$3"
echo "target: ratio at most 1.05"
