#!/bin/sh
# Benchmarks parallel builds: one build that sleeps 2 s remotely, then four of them in
# parallel and one at a time, against one sshd on loopback. Prints a table with the ratio
# (four in parallel / the slowest single build). Usage: tests/bench/parallel.sh [runs]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-3}
. tests/bench/common.sh
{
    for i in 1 2 3 4; do cat <<HCL
source "null" "w$i" {
  ssh_host             = "127.0.0.1"
  ssh_port             = $port
  ssh_username         = "$user"
  ssh_private_key_file = "$work/sshd/id_ed25519"
}
HCL
    done
    echo 'build {'
    echo '  sources = ["source.null.w1", "source.null.w2", "source.null.w3", "source.null.w4"]'
    echo '  provisioner "shell" { inline = ["sleep 2"] }'
    echo '}'
} > "$work/t.pkr.hcl"
one=$(median "$kiln" build -only=null.w1 "$work/t.pkr.hcl")
par=$(median "$kiln" build "$work/t.pkr.hcl")
seq=$(median "$kiln" build -parallel-builds=1 "$work/t.pkr.hcl")
printf '\n%-44s %10s\n' "builds (median of $runs runs)" "seconds"
printf '%-44s %10.2f\n' "one build (sleep 2)" "$one"
printf '%-44s %10.2f\n' "four builds, -parallel-builds=0" "$par"
printf '%-44s %10.2f\n' "four builds, -parallel-builds=1" "$seq"
printf '\nratio four-parallel / one: %.2f\n' "$(echo "$par / $one" | bc -l)"
