# packer: agree
source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]

  provisioner "shell" {
    inline = [
      "echo ${build.Host}:${build.Port} as ${build.User} over ${build.ConnType}",
      "echo run ${build.PackerRunUUID}",
    ]
  }
}
