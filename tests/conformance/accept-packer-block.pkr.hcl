# packer: agree
packer {
  required_version = ">= 1.6.0"
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
