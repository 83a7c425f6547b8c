# packer: agree
packer {
  required_version = ">= 1.7.0, < 2"
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
