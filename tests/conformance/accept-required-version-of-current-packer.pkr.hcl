# packer: differs (Kiln follows the template language of current Packer, which later constraints name; Debian's 1.6.6 is older)
packer {
  required_version = ">= 1.7.0"
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
