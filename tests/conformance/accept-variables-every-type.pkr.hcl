# packer: agree
variable "s" {
  type        = string
  default     = "text"
  description = "A string."
}
variable "n" {
  type    = number
  default = 42
}
variable "b" {
  type    = bool
  default = false
}
variable "l" {
  type    = list(string)
  default = ["a", "b"]
}
variable "m" {
  type    = map(number)
  default = { one = 1, two = 2 }
}
variable "o" {
  type = object({
    name = string
    port = number
  })
  default = { name = "web", port = 8080 }
}
variable "t" {
  type    = tuple([string, number])
  default = ["x", 1]
}
variable "st" {
  type    = set(string)
  default = ["b", "a", "b"]
}
variable "any" {
  default = "untyped"
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
