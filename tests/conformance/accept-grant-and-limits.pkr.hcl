# packer: differs (grant and limits are Kiln's extension; Packer rejects the blocks)
variable "proxy" {
  type    = string
  default = "HTTP_PROXY"
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]

  provisioner "shell" {
    inline = ["echo building"]
    grant {
      read    = ["data/", "/etc/ssl/certs/ca-certificates.crt"]
      write   = ["output/"]
      env     = ["HOME", var.proxy]
      network = ["mirror.example:443", "10.0.0.5:*"]
      clock   = "host"
      random  = "fixed"
    }
    limits {
      memory          = "512MiB"
      ui_output       = "1MiB"
      calls_in_flight = 4
      message_size    = "8MiB"
    }
  }

  error-cleanup-provisioner "shell" {
    inline = ["echo cleaning up"]
    limits {
      memory = "64MiB"
    }
  }

  post-processor "shell-local" {
    inline = ["echo ${source.name} built"]
    grant {
      exec_host = true
      read      = ["output/"]
    }
    limits {
      ui_output = 65536
    }
  }
}
