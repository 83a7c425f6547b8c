# packer: differs (templatefile() arrived after Packer 1.6.6)
locals {
  rendered = templatefile("${path.root}/data/motd.tpl", { name = "kiln", items = ["a", "b"] })
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
