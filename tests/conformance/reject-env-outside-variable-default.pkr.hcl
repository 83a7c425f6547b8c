# packer: agree
locals {
  home = env("HOME")
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
