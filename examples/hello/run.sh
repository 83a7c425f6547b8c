#!/bin/sh
# The SSH example: builds Kiln, starts a throwaway OpenSSH server on loopback, and builds
# examples/hello/hello.pkr.hcl against it. The result is examples/output/report.txt,
# downloaded from the machine by the template's last step.
set -eu
cd "$(dirname "$0")/../.."
if ! command -v /usr/sbin/sshd >/dev/null 2>&1; then
    echo "Installing openssh-server (needed for the throwaway machine)..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssh-server
fi
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --release -p kiln
state=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null || echo 2222)
root=$(pwd)
trap '"$root/examples/sshd.sh" stop "$state"; rm -rf "$state"' EXIT INT TERM
"$root/examples/sshd.sh" start "$state" "$port"
cd examples
../target/release/kiln build -var "ssh_port=$port" -var "ssh_key=$state/id_ed25519" -var "ssh_user=$(id -un)" hello
echo
echo "Report downloaded from the machine (examples/output/report.txt):"
cat output/report.txt
