# packer: agree
variable "password" {
  type      = string
  default   = "hunter2"
  sensitive = true
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
  provisioner "shell" {
    inline = ["echo ${var.password}"]
  }
}
