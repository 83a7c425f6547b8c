# packer: differs (Packer 1.6.6 evaluates can() before the local it names exists and answers false)
locals {
  has_name = can(local.settings.name)
  settings = { name = "web" }
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
