# A Debian 12 container image built from the Debian package repositories alone: no
# daemon, no registry. debootstrap makes the base (once; it is cached), the shell and
# file provisioners change it inside Linux namespaces, and the changes are committed as
# one new layer of an OCI image archive. `examples/run.sh` builds this template.

variable "mirror" {
  type        = string
  default     = "http://deb.debian.org/debian"
  description = "The Debian mirror debootstrap downloads from."
}

source "container" "debian" {
  bootstrap {
    suite   = "bookworm"
    variant = "minbase"
    mirror  = var.mirror
  }

  commit       = true
  output_image = "output/debian.tar"
  image_tag    = "kiln-example"
  changes = [
    "CMD [\"/usr/local/bin/hello\"]",
    "WORKDIR /srv/www",
    "EXPOSE 8080",
    "LABEL org.opencontainers.image.title=kiln-example",
  ]
}

build {
  sources = ["source.container.debian"]

  provisioner "shell" {
    inline = [
      "echo \"Provisioning $PACKER_BUILD_NAME on $(. /etc/os-release; echo $PRETTY_NAME)\"",
      "useradd --system --home-dir /srv/www --shell /usr/sbin/nologin www",
      "mkdir -p /srv/www",
    ]
  }

  # `site/` with a trailing slash: its contents land in /srv/www.
  provisioner "file" {
    source      = "${path.root}/files/site/"
    destination = "/srv/www"
  }

  provisioner "file" {
    source      = "${path.root}/files/hello"
    destination = "/usr/local/bin/hello"
  }

  provisioner "shell" {
    script = "${path.root}/files/finish.sh"
  }
}
