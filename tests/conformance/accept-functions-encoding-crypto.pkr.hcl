# packer: agree
locals {
  b64      = base64encode("kiln")
  decoded  = base64decode("a2lsbg==")
  json     = jsonencode({ a = [1, 2] })
  fromjson = jsondecode("{\"k\": \"v\"}")
  yaml     = yamldecode("a: 1\nb: [x, y]\n")
  csv      = csvdecode("a,b\n1,2\n")
  url      = urlencode("a b&c")
  md5      = md5("kiln")
  sha1     = sha1("kiln")
  sha256   = sha256("kiln")
  sha512   = sha512("kiln")
  uuid5    = uuidv5("dns", "example.com")
  cidr     = cidrsubnet("10.0.0.0/16", 8, 3)
  host     = cidrhost("10.0.0.0/24", 5)
  mask     = cidrnetmask("10.0.0.0/12")
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
