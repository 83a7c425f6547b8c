# packer: agree
variables {
  region = "eu-west-1"
  zones  = ["a", "b"]
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
