# packer: differs (Packer 1.6.6 predates `local` blocks; later Packers accept them)
local "token" {
  expression = "s3cr3t-${upper("x")}"
  sensitive  = true
}

locals {
  visible = "shown"
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
