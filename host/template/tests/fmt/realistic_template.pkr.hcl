packer {
  required_version = ">= 1.6.0"
}

variable "image" {
  type = string
  default = "ubuntu:20.04"
  description = "The base image."
}

variable "packages" {
  type    = list(string)
  default = ["curl","git"]
}

locals {
  timestamp = regex_replace(timestamp(), "[- TZ:]", "")
  name = "kiln-${local.timestamp}"
}

source "docker" "ubuntu" {
  image  = var.image
  commit = true
  changes = [
    "ENV FOO=bar",
    "WORKDIR /app"
  ]
}

build {
  name = "example"
  sources = ["source.docker.ubuntu"]

  provisioner "shell" {
    environment_vars = ["NAME=${local.name}"]
    inline = [
      "apt-get update",
      "apt-get install -y ${join(" ", var.packages)}",
    ]
    pause_before = "1s"
    max_retries = 2
  }

  provisioner "file" {
    source = "files/"
    destination = "/tmp"
    only = ["docker.ubuntu"]
  }

  post-processor "manifest" {}
}
