#!/bin/sh
# The registry example: builds Kiln and the example component examples/components/motd,
# starts a throwaway OCI registry on 127.0.0.1:5000 (Debian's docker-registry) and a
# throwaway sshd, pushes the component, pulls and locks it with `kiln init`, and builds
# examples/motd/motd.pkr.hcl with it.
set -eu
cd "$(dirname "$0")/../.."
root=$(pwd)
for pkg in docker-registry:/usr/bin/docker-registry openssh-server:/usr/sbin/sshd; do
    if ! [ -x "${pkg#*:}" ]; then
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkg%%:*}"
    fi
done
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --release -p kiln
kiln=$root/target/release/kiln
(cd examples/components/motd && cargo build --release)
state=$(mktemp -d)
cat > "$state/registry.yml" <<CONF
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $state/registry
http:
  addr: 127.0.0.1:5000
CONF
/usr/bin/docker-registry serve "$state/registry.yml" >"$state/registry.log" 2>&1 &
registry=$!
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
trap 'kill $registry 2>/dev/null; "$root/examples/sshd.sh" stop "$state/sshd"; rm -rf "$state"' EXIT INT TERM
"$root/examples/sshd.sh" start "$state/sshd" "$port"
i=0
until python3 -c 'import socket; socket.create_connection(("127.0.0.1", 5000), 1)' 2>/dev/null; do
    i=$((i + 1)); [ "$i" -lt 50 ] || { echo "the registry did not start (is port 5000 taken?); see $state/registry.log" >&2; exit 1; }
    sleep 0.1
done
"$kiln" component push --description "Writes a message of the day" \
    examples/components/motd/target/wasm32-wasip2/release/motd.wasm 127.0.0.1:5000/kiln-examples/motd:1.0
"$kiln" component inspect 127.0.0.1:5000/kiln-examples/motd:1.0
cd examples/motd
"$kiln" init motd.pkr.hcl
"$kiln" build -var "ssh_port=$port" -var "ssh_key=$state/sshd/id_ed25519" -var "ssh_user=$(id -un)" motd.pkr.hcl
