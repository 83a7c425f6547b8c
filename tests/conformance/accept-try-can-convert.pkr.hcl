# packer: agree
variable "settings" {
  default = { name = "web" }
}

locals {
  port     = try(var.settings.port, 8080)
  has_name = can(var.settings.name)
  has_port = can(var.settings.port)
  as_list  = convert(["a", "b"], list(string))
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
