# packer: agree
variable "region" {
  type = string
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
