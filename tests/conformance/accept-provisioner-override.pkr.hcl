# packer: agree
source "null" "web" {
  communicator = "none"
}

source "null" "db" {
  communicator = "none"
}

build {
  sources = ["source.null.web", "source.null.db"]

  provisioner "shell" {
    inline = ["echo default"]
    override = {
      db = {
        inline = ["echo for db"]
      }
    }
  }
}
