# packer: agree
source "null" "web" {
  communicator = "none"
}

source "null" "db" {
  communicator = "none"
}

build {
  name    = "release"
  sources = ["source.null.web", "source.null.db"]

  provisioner "shell" {
    inline = ["echo ${source.name}"]
  }

  post-processor "checksum" {
    checksum_types = ["sha256"]
    output         = "${source.name}.{{.ChecksumType}}"
  }

  post-processors {
    post-processor "compress" {
      only                = ["null.web"]
      keep_input_artifact = true
      output              = "${build.name}-${source.name}.tar.gz"
    }
    post-processor "manifest" {
      name   = "inventory"
      except = ["null.db"]
      output = "manifest.json"
    }
    post-processor "checksum" {
      checksum_types = ["md5"]
    }
  }
}
