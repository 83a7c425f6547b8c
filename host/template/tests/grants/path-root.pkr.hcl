# Loaded as tests/grants/path-root.pkr.hcl from the crate: path.root is relative.
source "null" "a" {
  communicator = "none"
}

build {
  sources = ["source.null.a"]

  provisioner "shell" {
    inline = ["echo ${path.root}"]
    grant {
      read  = ["files", "${path.root}/data/"]
      write = ["${path.cwd}/out"]
    }
  }
}
