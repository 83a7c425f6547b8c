# packer: agree
source "null" "web" {
  communicator = "none"
}

bulid {
  sources = ["source.null.web"]
}
