# packer: agree
variable "name" {
  default = upper("web")
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
