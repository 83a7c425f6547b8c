# packer: agree
source "null" "base" {
  communicator = "none"
}

build {
  name    = "first"
  sources = ["source.null.base"]
}

build {
  name = "second"
  source "source.null.base" {
    name = "renamed"
  }
  provisioner "shell" {
    inline = ["echo ${source.name} ${source.type}"]
  }
}
