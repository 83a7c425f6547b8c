# packer: agree
locals {
  here     = abspath(path.root)
  base     = basename("/etc/hosts")
  dir      = dirname("/etc/hosts")
  exists   = fileexists("${path.root}/accept-locals.pkr.hcl")
  content  = file("${path.root}/data/greeting.txt")
  date     = formatdate("DD MMM YYYY hh:mm ZZZ", "2018-01-02T23:12:01Z")
  later    = timeadd("2017-11-22T00:00:00Z", "10m")
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
