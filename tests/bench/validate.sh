#!/bin/sh
# `kiln validate` on a small template (one source, two provisioners) and on a large one:
# 50 sources, one build over all of them with 200 provisioners (shell and file, several
# referencing variables and source.name). Prints a table of median wall time and peak
# memory, and the large one again with twice the provisioners (growth should be linear).
# Targets: both the small and the large one under 20 ms.
# With WITH_PACKER=1 it also times Debian's `packer validate` (1.6.6) on the same file,
# once: Packer starts a plugin process per provisioner per build, so that takes minutes.
# Usage: tests/bench/validate.sh [runs]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-10}
. tests/bench/need.sh
need /usr/bin/time bc
[ "${WITH_PACKER:-0}" = 1 ] && need packer
cargo build --release -p kiln >/dev/null 2>&1
kiln=$(pwd)/target/release/kiln
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM
export NO_COLOR=1 KILN_CACHE_DIR="$work/cache" CHECKPOINT_DISABLE=1 PACKER_NO_COLOR=1

# big FILE PROVISIONERS: 50 sources, one build over all of them.
big() {
    {
    echo 'variable "greeting" {'; echo '  type    = string'; echo '  default = "hello"'; echo '}'
    i=0; while [ "$i" -lt 50 ]; do
        printf 'source "null" "s%02d" {\n  communicator = "none"\n}\n' "$i"; i=$((i + 1))
    done
    echo 'build {'
    printf '  sources = ['
    i=0; while [ "$i" -lt 50 ]; do printf '"source.null.s%02d", ' "$i"; i=$((i + 1)); done
    echo ']'
    i=0; while [ "$i" -lt "$2" ]; do
        case $((i % 4)) in
            0) printf '  provisioner "shell" {\n    inline = ["echo ${var.greeting} %d"]\n  }\n' "$i" ;;
            1) printf '  provisioner "shell" {\n    inline           = ["echo $A"]\n    environment_vars = ["A=%d"]\n  }\n' "$i" ;;
            2) printf '  provisioner "file" {\n    content     = "step %d"\n    destination = "/tmp/f%d"\n  }\n' "$i" "$i" ;;
            3) printf '  provisioner "shell" {\n    inline = ["echo ${source.name} %d"]\n  }\n' "$i" ;;
        esac
        i=$((i + 1))
    done
    echo '}'
    } > "$1"
}
t="$work/big.pkr.hcl"; big "$t" 200
# The same template with twice the provisioners: validate time should at most double.
t2="$work/double.pkr.hcl"; big "$t2" 400

# A small template, as most are: one source, a shell and a file provisioner.
small="$work/small.pkr.hcl"
cat > "$small" <<'HCL'
variable "greeting" {
  type    = string
  default = "hello"
}
source "null" "web" {
  communicator = "none"
}
build {
  sources = ["source.null.web"]
  provisioner "shell" {
    inline = ["echo ${var.greeting}"]
  }
  provisioner "file" {
    content     = "x"
    destination = "/tmp/x"
  }
}
HCL

"$kiln" validate "$t" >/dev/null   # compiles the components into the cache once

# Wall time (ms): the median of three batches of $runs runs, each batch timed as a
# whole, so that starting the clock (a process) is spread over the batch instead of
# adding to each run; peak RSS (MiB): the median of $runs runs under /usr/bin/time.
measure() {
    b=0; : > "$work/times"
    while [ "$b" -lt 3 ]; do
        i=0; s=$(date +%s%N)
        while [ "$i" -lt "$runs" ]; do
            "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
            i=$((i + 1))
        done
        e=$(date +%s%N)
        echo "$(( (e - s) / runs / 1000 ))" >> "$work/times"; b=$((b + 1))
    done
    i=0; : > "$work/peaks"
    while [ "$i" -lt "$runs" ]; do
        /usr/bin/time -f "%M" -o "$work/one" "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
        cat "$work/one" >> "$work/peaks"; i=$((i + 1))
    done
    t=$(sort -n "$work/times" | sed -n 2p)
    m=$(sort -n "$work/peaks" | awk '{m[NR]=$1} END {print m[int((NR+1)/2)]}')
    echo "$t $m" | awk '{printf "%.1f %.1f", $1/1000, $2/1024}'
}
set -- $(measure "$kiln" validate "$small"); s_ms=$1; s_mib=$2
set -- $(measure "$kiln" validate "$t"); k_ms=$1; k_mib=$2
set -- $(measure "$kiln" validate "$t2"); d_ms=$1; d_mib=$2
lines=$(wc -l < "$t"); lines2=$(wc -l < "$t2")
echo "kiln validate: wall, the median of 3 batches of $runs runs; peak, the median of $runs runs"
printf '%-40s %10s %10s\n' "" "wall (ms)" "peak (MiB)"
printf '%-40s %10s %10s\n' "small template (1 source, 2 provisioners)" "$s_ms" "$s_mib"
printf '%-40s %10s %10s\n' "50 sources, 200 provisioners ($lines lines)" "$k_ms" "$k_mib"
printf '%-40s %10s %10s\n' "50 sources, 400 provisioners ($lines2 lines)" "$d_ms" "$d_mib"
printf 'doubling the template multiplies the time by %.2f (target: at most 2)\n' "$(echo "$d_ms / $k_ms" | bc -l)"
if [ "${WITH_PACKER:-0}" = 1 ]; then
    s=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$work/one" packer validate "$t" >/dev/null 2>&1 || { echo "failed: packer validate" >&2; exit 1; }
    e=$(date +%s%N)
    p_ms=$(echo "$(( (e - s) / 1000 )) $(cat "$work/one")" | awk '{printf "%.1f", $1/1000}')
    p_mib=$(awk '{printf "%.1f", $1/1024}' "$work/one")
    printf '%-40s %10s %10s   (one run)\n' "packer 1.6.6 validate, the large one" "$p_ms" "$p_mib"
fi
echo "targets: the small template well under 20 ms; the large one under 20 ms"
