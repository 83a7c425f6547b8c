# packer: agree
source "null" "web" {
  communicator = "none"
}

build {
  name    = "ctx"
  sources = ["source.null.web"]
  provisioner "shell" {
    inline = [
      "echo ${source.name} ${source.type} ${build.name}",
      "echo ${path.root} ${path.cwd}",
    ]
  }
}
