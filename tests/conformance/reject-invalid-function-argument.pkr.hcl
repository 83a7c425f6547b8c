# packer: agree
locals {
  n = parseint("zz", 10)
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
