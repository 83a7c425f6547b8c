# A complete Kiln template: provision an existing machine over SSH (the null builder)
# with the shell and file provisioners. `examples/run.sh` starts a throwaway sshd on
# loopback and builds this template against it.

variable "ssh_port" {
  type        = number
  description = "Port of the machine's SSH server."
}

variable "ssh_key" {
  type        = string
  description = "Private key accepted by the machine."
}

variable "ssh_user" {
  type    = string
  default = "root"
}

locals {
  # Where the example leaves its traces on the machine.
  target = "/tmp/kiln-example"
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
    inline = [
      "mkdir -p ${local.target}",
      "echo \"Provisioning $PACKER_BUILD_NAME on $(uname -sr)\"",
    ]
  }

  # Copies the directory itself: files/ ends up as ${local.target}/files.
  provisioner "file" {
    source      = "${path.root}/files"
    destination = local.target
  }

  provisioner "shell" {
    script           = "${path.root}/setup.sh"
    environment_vars = ["TARGET=${local.target}", "GREETING=hello from Kiln"]
  }

  # And back to the host: the report the script wrote.
  provisioner "file" {
    direction   = "download"
    source      = "${local.target}/report.txt"
    destination = "output/"
  }
}
