# packer: agree
variable "region" {
    type=string
  default   =   "eu-west-1"
    description="Where to build."
}

locals{
  tags = {
      Name="kiln"
    Team  =  "images"
  }
  list=[ "a","b" ,"c" ]
    # a comment on its own line
  n=1+2*3
}

source "null" "web" {
communicator="none"
}

build {
  sources=["source.null.web"]
    provisioner "shell" {
  inline=[
 "echo ${var.region}",
      "echo ${local.n}",
  ]
  }
}
