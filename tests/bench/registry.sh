#!/bin/sh
# Pushing and pulling a 10 MiB component on loopback: `kiln component push` and `kiln
# component pull` (fresh cache each pull) against Debian's docker-registry, beside
# `skopeo copy` of the same artifact, with the median of `runs` runs and peak memory.
#   tests/bench/registry.sh [runs]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-5}
. tests/bench/need.sh
need /usr/bin/docker-registry skopeo python3 /usr/bin/time
cargo build --release -p kiln >/dev/null 2>&1
kiln=$(pwd)/target/release/kiln
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: 127.0.0.1:%s\n' "$work" "$port" > "$work/registry.yml"
/usr/bin/docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
registry=$!
trap 'kill $registry 2>/dev/null; rm -rf "$work"' EXIT INT TERM
until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do sleep 0.1; done

# The example component (built by the test build) grown to 10 MiB by a custom section
# of random bytes: new bytes each run, so that every push uploads the whole blob.
component=target/test-components/wasm32-wasip2/release/motd.wasm
[ -f "$component" ] || { echo "build the test components first: cargo test -p kiln-tests --no-run" >&2; exit 1; }
cat > "$work/grow.py" <<'PY'
import os, sys
data = open(sys.argv[1], 'rb').read()
name = b'kiln-bench'
payload = bytes([len(name)]) + name + os.urandom(10 * 1024 * 1024 - len(data) - 32)
size, leb = len(payload), b''
while True:
    byte = size & 0x7f; size >>= 7
    leb += bytes([byte | (0x80 if size else 0)])
    if not size: break
open(sys.argv[2], 'wb').write(data + b'\x00' + leb + payload)
PY
export NO_COLOR=1 DOCKER_CONFIG="$work/docker"

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
timed() { # prints "seconds peak_kib" of running "$@"
    /usr/bin/time -f '%e %M' "$@" 2>&1 >/dev/null | tail -1
}
: > "$work/push"; : > "$work/pull"; : > "$work/skopeo"
i=0
while [ "$i" -lt "$runs" ]; do
    ref=127.0.0.1:$port/bench/big:run$i
    python3 "$work/grow.py" "$component" "$work/big.wasm"
    timed "$kiln" component push "$work/big.wasm" "$ref" >> "$work/push"
    rm -rf "$work/cache"
    KILN_CACHE_DIR="$work/cache" timed "$kiln" component pull "$ref" -o "$work/pulled.wasm" >> "$work/pull"
    cmp "$work/big.wasm" "$work/pulled.wasm"
    rm -rf "$work/skopeo-out"
    timed skopeo copy --quiet --src-tls-verify=false "docker://$ref" "oci:$work/skopeo-out:x" >> "$work/skopeo"
    i=$((i + 1))
done
bytes=$(stat -c %s "$work/big.wasm")
mib=$(echo "$bytes / 1048576" | bc -l)
row() {
    t=$(cut -d' ' -f1 "$work/$2" | median); m=$(cut -d' ' -f2 "$work/$2" | median)
    printf '| %s | %.3f s | %.0f MiB/s | %.1f MiB |\n' "$1" "$t" "$(echo "$mib / $t" | bc -l)" "$(echo "$m / 1024" | bc -l)"
}
echo "10 MiB component ($bytes bytes), loopback registry, median of $runs runs"
echo "| what | time | throughput | peak RSS |"
echo "|---|---|---|---|"
row "kiln component push (new blob each run)" push
row "kiln component pull (empty cache, verified)" pull
row "skopeo copy docker:// to oci: (for scale)" skopeo
