# packer: agree
variable "name" {
  default = "app"
}

locals {
  prefix = "kiln-${var.name}"
  tags   = { Name = local.prefix, Team = "images" }
  count  = length(local.tags)
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
  provisioner "shell" {
    inline = ["echo ${local.prefix} ${local.count}"]
  }
}
