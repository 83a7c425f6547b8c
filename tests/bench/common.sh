# Shared by the benchmark scripts (sourced, from the repository root): builds the
# release kiln, starts a throwaway sshd on a free loopback port, removes everything on
# exit, and provides `median CMD...`. Set `runs` before sourcing; `$extra_cleanup` is
# removed on exit too.
. tests/bench/need.sh
need /usr/sbin/sshd ssh-keygen python3 bc
cargo build --release -p kiln >/dev/null 2>&1
kiln=$(pwd)/target/release/kiln
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
root=$(pwd)
trap '"$root/examples/sshd.sh" stop "$work/sshd"; rm -rf "$work" ${extra_cleanup:-}' EXIT INT TERM
examples/sshd.sh start "$work/sshd" "$port"
user=$(id -un)
export NO_COLOR=1 KILN_CACHE_DIR="$work/cache"

# Median wall time in seconds of running "$@" $runs times.
median() {
    i=0; : > "$work/times"
    while [ "$i" -lt "$runs" ]; do
        s=$(date +%s.%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
        e=$(date +%s.%N); echo "$e - $s" | bc -l >> "$work/times"; i=$((i + 1))
    done
    sort -n "$work/times" | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}

# The null source `bench` on this sshd, as HCL.
source_block() {
    cat <<HCL
source "null" "bench" {
  communicator         = "ssh"
  ssh_host             = "127.0.0.1"
  ssh_port             = $port
  ssh_username         = "$user"
  ssh_private_key_file = "$work/sshd/id_ed25519"
}
HCL
}
