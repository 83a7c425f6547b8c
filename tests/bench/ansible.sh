#!/bin/sh
# A 20-task playbook against one loopback sshd, four ways: Kiln's `ansible` provisioner
# (ansible-playbook on this host, connected straight to the machine's sshd), the same
# through Kiln's SSH adapter (`use_proxy = true`: a russh server on loopback that runs
# each command over the build's SSH connection, as for a container), Packer's
# `ansible` provisioner (Debian's packer, through its SSH proxy adapter), and
# ansible-playbook run by hand over SSH with the same inventory. Medians of `runs` runs.
# Packer 1.6.6's proxy offers only an ssh-rsa host key, which Debian 12's OpenSSH client
# refuses ("no matching host key type found"), and its scp mode fails with that
# client's scp ("failed to transfer file"): its template carries the usual workarounds
# (HostKeyAlgorithms=+ssh-rsa, use_sftp) so that it runs at all.
# The adapter makes Ansible pipeline modules (it serves commands, not sftp), so it is
# also set beside ansible-playbook by hand with ANSIBLE_PIPELINING=True, like for like.
# Targets: Kiln within 1.2x of ansible by hand, and faster than Packer.
#   tests/bench/ansible.sh [runs]
set -eu
cd "$(dirname "$0")/../.."
runs=${1:-5}
. tests/bench/common.sh
need packer ansible-playbook
export CHECKPOINT_DISABLE=1 PACKER_NO_COLOR=1 ANSIBLE_NOCOLOR=1

d="$work/ansible"; mkdir -p "$d"
{
    echo '- hosts: all'
    echo '  gather_facts: false'
    echo '  tasks:'
    i=0
    while [ "$i" -lt 20 ]; do
        echo "    - name: task $i"
        echo "      ansible.builtin.command: \"true\""
        i=$((i + 1))
    done
} > "$d/play.yml"
{ source_block; cat <<HCL; } > "$d/t.pkr.hcl"
build {
  sources = ["source.null.bench"]
  provisioner "ansible" {
    playbook_file = "$d/play.yml"
  }
}
HCL
sed 's|playbook_file = |use_proxy     = true\n    playbook_file = |' "$d/t.pkr.hcl" > "$d/proxy.pkr.hcl"
cat > "$d/packer.json" <<JSON
{
  "builders": [{
    "type": "null",
    "ssh_host": "127.0.0.1",
    "ssh_port": $port,
    "ssh_username": "$user",
    "ssh_private_key_file": "$work/sshd/id_ed25519"
  }],
  "provisioners": [{
    "type": "ansible",
    "playbook_file": "$d/play.yml",
    "use_sftp": true,
    "ansible_ssh_extra_args": ["-o HostKeyAlgorithms=+ssh-rsa -o PubkeyAcceptedKeyTypes=+ssh-rsa -o IdentitiesOnly=yes"]
  }]
}
JSON
printf 'default ansible_host=127.0.0.1 ansible_user=%s ansible_port=%s\n' "$user" "$port" > "$d/inventory"
by_hand() {
    ANSIBLE_HOST_KEY_CHECKING=False ANSIBLE_SCP_IF_SSH=True ansible-playbook \
        -e ansible_ssh_private_key_file="$work/sshd/id_ed25519" -i "$d/inventory" "$d/play.yml"
}
"$kiln" build "$d/t.pkr.hcl" > /dev/null || { "$kiln" build "$d/t.pkr.hcl"; exit 1; }
by_hand_pipelined() {
    ANSIBLE_PIPELINING=True by_hand
}
k=$(median "$kiln" build "$d/t.pkr.hcl")
"$kiln" build "$d/proxy.pkr.hcl" > /dev/null || { "$kiln" build "$d/proxy.pkr.hcl"; exit 1; }
a=$(median "$kiln" build "$d/proxy.pkr.hcl")
h=$(median by_hand)
hp=$(median by_hand_pipelined)
packer build "$d/packer.json" > "$work/packer.log" 2>&1 || { tail -20 "$work/packer.log"; exit 1; }
p=$(median packer build "$d/packer.json")
echo "20-task playbook, loopback sshd, median of $runs runs, $(nproc) cores"
echo "| run | time | vs by hand |"
echo "|---|---|---|"
printf '| ansible-playbook by hand over SSH | %.2f s | 1.00 |\n' "$h"
printf '| kiln build, provisioner "ansible" | %.2f s | %.2f |\n' "$k" "$(echo "$k / $h" | bc -l)"
printf '| ansible-playbook by hand over SSH, ANSIBLE_PIPELINING=True | %.2f s | %.2f |\n' "$hp" "$(echo "$hp / $h" | bc -l)"
printf '| kiln build, provisioner "ansible", use_proxy = true (adapter, which pipelines) | %.2f s | %.2f (%.2f of pipelined by hand) |\n' "$a" "$(echo "$a / $h" | bc -l)" "$(echo "$a / $hp" | bc -l)"
printf '| packer build, provisioner "ansible" (Packer %s) | %.2f s | %.2f |\n' "$(packer version | head -1 | cut -d' ' -f2)" "$p" "$(echo "$p / $h" | bc -l)"
