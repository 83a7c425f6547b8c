# packer: agree
source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]

  post-processors {
    post-processor "checksum" {
      checksum_types = ["sha256"]
    }
    provisioner "shell-local" {
      inline = ["echo misplaced"]
    }
  }
}
