# A template that uses a third-party component pulled from an OCI registry: the motd
# provisioner of examples/components/motd, which examples/motd/run.sh builds, pushes to
# a throwaway registry on 127.0.0.1:5000, locks with `kiln init`, and then builds this
# template with against a throwaway sshd.

packer {
  required_components {
    # Pulled from here by `kiln init`, which locks its digest in motd.pkr.hcl.lock.json.
    motd = { source = "127.0.0.1:5000/kiln-examples/motd:1.0" }
  }
}

variable "ssh_port" {
  type = number
}

variable "ssh_key" {
  type = string
}

variable "ssh_user" {
  type    = string
  default = "root"
}

source "null" "machine" {
  ssh_host             = "127.0.0.1"
  ssh_port             = var.ssh_port
  ssh_username         = var.ssh_user
  ssh_private_key_file = var.ssh_key
  ssh_timeout          = "30s"
}

build {
  sources = ["source.null.machine"]

  provisioner "shell" {
    inline = ["mkdir -p /tmp/kiln-example"]
  }

  # The component from the registry; it gets the communicator and the UI, nothing else.
  provisioner "motd" {
    message = "Built by Kiln for {{build}}"
    path    = "/tmp/kiln-example/motd"
  }

  provisioner "shell" {
    inline = ["cat /tmp/kiln-example/motd"]
  }
}
