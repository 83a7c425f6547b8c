# packer: agree
packer {
  required_version = "1.6 or newer"
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
