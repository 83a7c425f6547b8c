# packer: agree
# Packer rejects any grant block; Kiln rejects the misspelt key in it.
source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]

  provisioner "shell" {
    inline = ["echo building"]
    grant {
      raed = ["data/"]
    }
  }
}
