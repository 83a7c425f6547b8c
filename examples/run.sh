#!/bin/sh
# The main job: builds Kiln and, with the container builder, a Debian 12 image from the
# Debian package repositories alone (examples/debian/debian.pkr.hcl). The result is the
# OCI image archive examples/output/debian.tar. Needs root (Linux namespaces, mounts).
set -eu
cd "$(dirname "$0")/.."
if ! [ -x /usr/sbin/debootstrap ]; then
    echo "Installing debootstrap (it makes the Debian base)..."
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap
fi
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --release -p kiln
cd examples
../target/release/kiln build debian
echo
echo "Image written to examples/output/debian.tar (an OCI image archive). Run it with:"
echo "  podman run --rm oci-archive:examples/output/debian.tar"
echo "or load it into Docker first:"
echo "  skopeo copy oci-archive:examples/output/debian.tar docker-daemon:kiln-example:latest && docker run --rm kiln-example"
