#!/bin/sh
# Starts a throwaway OpenSSH server on 127.0.0.1 for the example template, with its own
# host key and a fresh user key for the current user, in a temporary directory.
#
#   examples/sshd.sh start DIR PORT   # writes DIR/id_ed25519 (the key the template uses)
#   examples/sshd.sh stop DIR
set -eu
cmd=${1:?start or stop}; dir=${2:?directory}
case "$cmd" in
start)
    port=${3:?port}
    mkdir -p "$dir" /run/sshd
    dir=$(cd "$dir" && pwd)
    rm -f "$dir/host_key" "$dir/host_key.pub" "$dir/id_ed25519" "$dir/id_ed25519.pub"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$dir/id_ed25519"
    cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
    chmod 600 "$dir/authorized_keys"
    cat > "$dir/sshd_config" <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PidFile $dir/sshd.pid
StrictModes no
UsePAM no
PermitRootLogin yes
PasswordAuthentication no
MaxStartups 100
MaxSessions 100
LogLevel ERROR
Subsystem sftp /usr/lib/openssh/sftp-server
CONF
    /usr/sbin/sshd -f "$dir/sshd_config" -E "$dir/sshd.log"
    # Wait until it accepts connections.
    i=0
    while ! ssh -q -o BatchMode=yes -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
        -i "$dir/id_ed25519" -p "$port" "$(id -un)@127.0.0.1" true 2>/dev/null; do
        i=$((i + 1)); [ "$i" -lt 100 ] || { echo "sshd did not start; see $dir/sshd.log" >&2; exit 1; }
        sleep 0.1
    done
    ;;
stop)
    [ -f "$dir/sshd.pid" ] && kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
    ;;
esac
