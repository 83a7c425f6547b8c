#!/bin/sh
# Benchmarks Kiln against Packer (Debian's `packer`) and OpenSSH on the same sshd:
#   (a) per-provisioner overhead: 10 inline shell provisioners vs none, beside the floor:
#       one command in a new session on an open connection (`ssh -S`)
#   (b) a 256 MiB upload through the file provisioner vs `scp -O`
#   (c) `kiln validate`: wall time and peak memory
#   (d) 2,000 files of 4 KiB in 20 directories uploaded, then downloaded, by the file
#       provisioner vs `tar c | ssh tar x` (and `ssh tar c | tar x`) on the same link
# Prints a table. Usage: tests/bench/ssh.sh [runs]   (needs packer, openssh-server)
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-5}
. tests/bench/need.sh
need packer scp
extra_cleanup="/tmp/kiln-bench-upload /tmp/kiln-bench-tree /tmp/kiln-bench-tar"
. tests/bench/common.sh
export CHECKPOINT_DISABLE=1 PACKER_NO_COLOR=1

template() { # name, number of shell provisioners, extra provisioner text
    d="$work/$1"; mkdir -p "$d"
    { source_block; echo 'build {'; echo '  sources = ["source.null.bench"]'
      i=0; while [ "$i" -lt "$2" ]; do echo '  provisioner "shell" { inline = ["true"] }'; i=$((i + 1)); done
      printf '%s\n' "$3"; echo '}'; } > "$d/t.pkr.hcl"
    echo "$d"
}

empty=$(template empty 0 "")
ten=$(template ten 10 "")
head -c $((256 * 1024 * 1024)) /dev/urandom > "$work/big.bin"
upload=$(template upload 0 "  provisioner \"file\" {
    source      = \"$work/big.bin\"
    destination = \"/tmp/kiln-bench-upload\"
  }")

d=0
while [ "$d" -lt 20 ]; do
    mkdir -p "$work/tree/d$d"
    f=0
    while [ "$f" -lt 100 ]; do
        head -c 4096 /dev/urandom > "$work/tree/d$d/f$f"; f=$((f + 1))
    done
    d=$((d + 1))
done
tree_up=$(template tree_up 0 "  provisioner \"file\" {
    source      = \"$work/tree/\"
    destination = \"/tmp/kiln-bench-tree\"
  }")
# The download reads back what the upload wrote, into the same host directory each run.
tree_down=$(template tree_down 0 "  provisioner \"file\" {
    direction   = \"download\"
    source      = \"/tmp/kiln-bench-tree/\"
    destination = \"$work/down/\"
  }")
ssh_cmd="ssh -q -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i $work/sshd/id_ed25519 -p $port $user@127.0.0.1"

"$kiln" validate "$ten/t.pkr.hcl" >/dev/null   # fills the compile cache

k_empty=$(median "$kiln" build "$empty/t.pkr.hcl")
k_ten=$(median "$kiln" build "$ten/t.pkr.hcl")
k_up=$(median "$kiln" build "$upload/t.pkr.hcl")
p_empty=$(median packer build "$empty/t.pkr.hcl")
p_ten=$(median packer build "$ten/t.pkr.hcl")
p_up=$(median packer build "$upload/t.pkr.hcl")
scp_t=$(median scp -O -q -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -i "$work/sshd/id_ed25519" -P "$port" "$work/big.bin" "$user@127.0.0.1:/tmp/kiln-bench-upload")
"$kiln" build "$tree_up/t.pkr.hcl" >/dev/null   # what the downloads read
k_tup=$(median "$kiln" build "$tree_up/t.pkr.hcl")
k_tdown=$(median "$kiln" build "$tree_down/t.pkr.hcl")
p_tup=$(median packer build "$tree_up/t.pkr.hcl")
p_tdown=$(median packer build "$tree_down/t.pkr.hcl")
ssh_t=$(median $ssh_cmd true)
# The floor of a step: one command in a new session on a connection already open.
$ssh_cmd -S "$work/ctl" -M -N -f
mux_t=$(median $ssh_cmd -S "$work/ctl" true)
$ssh_cmd -S "$work/ctl" -O exit 2>/dev/null
tar_up=$(median sh -c "tar cf - -C '$work/tree' . | $ssh_cmd 'rm -rf /tmp/kiln-bench-tar; mkdir -p /tmp/kiln-bench-tar && tar xf - -C /tmp/kiln-bench-tar'")
tar_down=$(median sh -c "rm -rf '$work/tdown'; mkdir -p '$work/tdown'; $ssh_cmd 'tar cf - -C /tmp/kiln-bench-tree .' | tar xf - -C '$work/tdown'")
/usr/bin/time -f "%e %M" -o "$work/validate" "$kiln" validate "$ten/t.pkr.hcl" >/dev/null
v_wall=$(median "$kiln" validate "$ten/t.pkr.hcl")
v_mem=$(awk '{print $2}' "$work/validate")

per() { echo "($2 - $1) * 1000 / 10" | bc -l; }
fps() { echo "2000 / ($2 - $1)" | bc -l; }
mibs() { echo "256 / ($2 - $1)" | bc -l; }
k_per=$(per "$k_empty" "$k_ten"); p_per=$(per "$p_empty" "$p_ten")
k_mibs=$(mibs "$k_empty" "$k_up"); p_mibs=$(mibs "$p_empty" "$p_up"); scp_mibs=$(echo "256 / $scp_t" | bc -l)

printf '\n%-46s %12s %12s %12s\n' "benchmark (median of $runs runs)" "kiln" "packer" "openssh"
printf '%-46s %12.1f %12.1f %12.1f\n' "(a) per shell step, ms (ssh -S: one command)" "$k_per" "$p_per" "$(echo "$mux_t * 1000" | bc -l)"
printf '%-46s %12.0f %12.0f %12.0f\n' "(b) 256 MiB upload, MiB/s (scp -O)" "$k_mibs" "$p_mibs" "$scp_mibs"
printf '%-46s %12.0f %12.0f %12.0f\n' "(d) 2,000 small files up, files/s (tar | ssh)" "$(fps "$k_empty" "$k_tup")" "$(fps "$p_empty" "$p_tup")" "$(fps "$ssh_t" "$tar_up")"
printf '%-46s %12.0f %12.0f %12.0f\n' "(d) 2,000 small files down, files/s (ssh tar)" "$(fps "$k_empty" "$k_tdown")" "$(fps "$p_empty" "$p_tdown")" "$(fps "$ssh_t" "$tar_down")"
printf '%-46s %12.1f %12s %12s\n' "(c) kiln validate wall time, ms" "$(echo "$v_wall * 1000" | bc -l)" "-" "-"
printf '%-46s %12.1f %12s %12s\n' "(c) kiln validate peak memory, MiB" "$(echo "$v_mem / 1024" | bc -l)" "-" "-"
printf '\nratios: kiln/packer provisioner overhead %.2f (target <= 0.5); kiln/scp upload %.2f (target >= 0.9)\n' \
    "$(echo "$k_per / $p_per" | bc -l)" "$(echo "$k_mibs / $scp_mibs" | bc -l)"
