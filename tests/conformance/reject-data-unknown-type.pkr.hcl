# packer: agree
data "amazon-ami" "base" {
  owners = ["amazon"]
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
