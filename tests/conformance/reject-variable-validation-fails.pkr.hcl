# packer: agree
variable "image_id" {
  type    = string
  default = "img-1"
  validation {
    condition     = substr(var.image_id, 0, 4) == "ami-"
    error_message = "The image_id value must be a valid AMI id, starting with \"ami-\"."
  }
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
