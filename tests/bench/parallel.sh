#!/bin/sh
# Benchmarks parallel builds: one build that sleeps 2 s remotely, then four of them in
# parallel and one at a time, against one sshd on loopback. Prints a table with the ratio
# (four in parallel / the slowest single build). Usage: tests/bench/parallel.sh [runs]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-3}
cargo build --release -p kiln >/dev/null 2>&1
kiln=$(pwd)/target/release/kiln
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'examples/sshd.sh stop "$work/sshd"; rm -rf "$work"' EXIT INT TERM
examples/sshd.sh start "$work/sshd" "$port"
export NO_COLOR=1 KILN_CACHE_DIR="$work/cache"
{
    for i in 1 2 3 4; do cat <<HCL
source "null" "w$i" {
  ssh_host             = "127.0.0.1"
  ssh_port             = $port
  ssh_username         = "$(id -un)"
  ssh_private_key_file = "$work/sshd/id_ed25519"
}
HCL
    done
    echo 'build {'
    echo '  sources = ["source.null.w1", "source.null.w2", "source.null.w3", "source.null.w4"]'
    echo '  provisioner "shell" { inline = ["sleep 2"] }'
    echo '}'
} > "$work/t.pkr.hcl"
median() {
    i=0; : > "$work/times"
    while [ "$i" -lt "$runs" ]; do
        s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
        e=$(date +%s.%N); echo "$e - $s" | bc -l >> "$work/times"; i=$((i + 1))
    done
    sort -n "$work/times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
one=$(median "$kiln" build -only=null.w1 "$work/t.pkr.hcl")
par=$(median "$kiln" build "$work/t.pkr.hcl")
seq=$(median "$kiln" build -parallel-builds=1 "$work/t.pkr.hcl")
printf '\n%-44s %10s\n' "builds (median of $runs runs)" "seconds"
printf '%-44s %10.2f\n' "one build (sleep 2)" "$one"
printf '%-44s %10.2f\n' "four builds, -parallel-builds=0" "$par"
printf '%-44s %10.2f\n' "four builds, -parallel-builds=1" "$seq"
printf '\nratio four-parallel / one: %.2f\n' "$(echo "$par / $one" | bc -l)"
