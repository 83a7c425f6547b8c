# packer: agree
packer {
  required_version = ">= 99.0.0, < 100"
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
