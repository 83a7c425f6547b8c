# packer: agree
source "null" "web" {
  communicator = "none"

build {
  sources = ["source.null.web"]
}
