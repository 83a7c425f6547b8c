# packer: agree
locals {
  x = uppercase("kiln")
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
