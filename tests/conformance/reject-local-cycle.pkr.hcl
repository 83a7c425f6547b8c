# packer: agree
locals {
  a = local.b
  b = local.a
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
