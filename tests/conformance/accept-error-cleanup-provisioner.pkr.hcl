# packer: differs (Packer 1.6.6 has error-cleanup-provisioner only in JSON templates)
source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]

  provisioner "shell" {
    inline = ["echo building"]
  }

  error-cleanup-provisioner "shell" {
    inline = ["echo cleaning up"]
  }
}
