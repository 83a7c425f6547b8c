# packer: differs (data blocks arrived in Packer 1.7; 1.6.6 rejects every data block)
data "null" "base" {
  input = "debian:bookworm"
}

locals {
  image = "${data.null.base.output}-slim"
}

source "null" "web" {
  communicator = "none"
}

build {
  name    = local.image
  sources = ["source.null.web"]
}
