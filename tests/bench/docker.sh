#!/bin/sh
# Pushing a 100 MiB container image to a loopback registry: Packer's docker template
# shape (source "docker" with commit, docker-tag, docker-push) built by kiln, beside
# `skopeo copy` of the same image from an OCI layout. The registry starts empty for
# every run (no blob is ever already there, and skopeo cannot mount one from another
# repository). The build without its post-processors is timed too; kiln's push is the
# difference. Also checks that two builds of the same inputs push the same digest.
# Target: kiln's push within 1.5x of skopeo copy.
#   tests/bench/docker.sh [runs]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-5}
. tests/bench/need.sh
need /usr/bin/docker-registry skopeo python3 /bin/busybox
cargo build --release -p kiln >/dev/null 2>&1
kiln=$(pwd)/target/release/kiln
work=$(mktemp -d)
registry=
trap '[ -n "$registry" ] && kill $registry 2>/dev/null; rm -rf "$work"' EXIT INT TERM
export NO_COLOR=1 KILN_CACHE_DIR="$work/cache" SOURCE_DATE_EPOCH=1700000000 DOCKER_CONFIG="$work/docker"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port

# start_registry: a registry with empty storage on $port.
start_registry() {
    [ -n "$registry" ] && { kill $registry; wait $registry 2>/dev/null || true; }
    rm -rf "$work/data"
    printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s/data\nhttp:\n  addr: %s\n' "$work" "$reg" > "$work/registry.yml"
    /usr/bin/docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
    registry=$!
    until python3 -c "import socket; socket.create_connection(('127.0.0.1', $port), 1)" 2>/dev/null; do sleep 0.05; done
}

# The image: busybox plus 100 MiB of random bytes, committed once.
cd "$work"
mkdir -p rootfs/bin rootfs/etc rootfs/root
cp /bin/busybox rootfs/bin/busybox
for applet in $(/bin/busybox --list); do [ "$applet" = busybox ] || ln -s busybox "rootfs/bin/$applet"; done
echo 'root:x:0:0:root:/root:/bin/sh' > rootfs/etc/passwd
echo 'root:x:0:' > rootfs/etc/group
cat > base.pkr.hcl <<'EOF'
source "container" "base" {
  rootfs       = "rootfs"
  commit       = true
  output_image = "big.tar"
}
build {
  sources = ["source.container.base"]
  provisioner "shell" {
    inline = ["head -c 104857600 /dev/urandom > /big"]
  }
}
EOF
"$kiln" build base.pkr.hcl > /dev/null
skopeo copy --quiet oci-archive:big.tar oci:layout:big
bytes=$(du -sb layout/blobs | cut -f1)

template() { # FILE POST-PROCESSORS
    cat > "$1" <<EOF
source "docker" "app" {
  image  = "oci-archive:big.tar"
  commit = true
}
build {
  sources = ["source.docker.app"]
  $2
}
EOF
}
seconds() { s=$(date +%s.%N); "$@" > "$work/out" 2>&1 || { cat "$work/out"; exit 1; }; e=$(date +%s.%N); echo "$e - $s" | bc -l; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
template plain.pkr.hcl ''
: > with; : > without; : > copy
i=0
while [ "$i" -lt "$runs" ]; do
    start_registry
    template push.pkr.hcl "post-processors {
    post-processor \"docker-tag\" {
      repository = \"$reg/bench/kiln\"
      tags       = [\"run$i\"]
    }
    post-processor \"docker-push\" {}
  }"
    seconds "$kiln" build -force push.pkr.hcl >> with
    digest=$(skopeo inspect --tls-verify=false "docker://$reg/bench/kiln:run$i" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])')
    if [ "$i" -gt 0 ] && [ "$digest" != "$first" ]; then echo "run $i pushed $digest, run 0 pushed $first" >&2; exit 1; fi
    first=$digest
    seconds "$kiln" build -force plain.pkr.hcl >> without
    start_registry
    seconds skopeo copy --quiet --dest-tls-verify=false oci:layout:big "docker://$reg/bench/skopeo:run$i" >> copy
    i=$((i + 1))
done
w=$(median < with); b=$(median < without); c=$(median < copy)
push=$(echo "$w - $b" | bc -l)
mib=$(echo "$bytes / 1048576" | bc -l)
echo "100 MiB image ($bytes bytes of blobs), loopback registry emptied before every push, median of $runs runs, $(nproc) cores"
echo "| what | time | throughput |"
echo "|---|---|---|"
printf '| kiln build: docker commit, docker-tag, docker-push | %.3f s | |\n' "$w"
printf '| kiln build: docker commit alone (baseline) | %.3f s | |\n' "$b"
printf '| kiln push (the difference) | %.3f s | %.0f MiB/s |\n' "$push" "$(echo "$mib / $push" | bc -l)"
printf '| skopeo copy oci: to docker:// | %.3f s | %.0f MiB/s |\n' "$c" "$(echo "$mib / $c" | bc -l)"
printf '| kiln push / skopeo copy | %.2f | target <= 1.5 |\n' "$(echo "$push / $c" | bc -l)"
echo "every run pushed the same digest: $first"
