# packer: agree
variable "port" {
  type    = number
  default = "eighty"
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
