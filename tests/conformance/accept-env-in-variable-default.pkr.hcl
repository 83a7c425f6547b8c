# packer: agree
variable "home" {
  type    = string
  default = env("KILN_CONFORMANCE_HOME")
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
