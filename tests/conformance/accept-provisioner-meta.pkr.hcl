# packer: agree
source "null" "a" {
  communicator = "none"
}

source "null" "b" {
  communicator = "none"
}

build {
  sources = ["source.null.a", "source.null.b"]

  provisioner "shell" {
    only         = ["null.a"]
    inline       = ["echo only a"]
    pause_before = "1s"
    max_retries  = 3
    timeout      = "5m"
  }

  provisioner "shell" {
    except = ["null.a"]
    inline = ["echo not a"]
  }
}
