# packer: agree
source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
  provisioner "shel" {
    inline = ["echo hi"]
  }
}
