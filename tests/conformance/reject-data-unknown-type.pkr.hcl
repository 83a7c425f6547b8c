# packer: agree
data "amazon-parameterstore" "base" {
  name = "/kiln/base"
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
