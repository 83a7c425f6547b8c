# packer: agree
locals {
  upper    = upper("kiln")
  joined   = join("-", ["a", "b", "c"])
  split    = split(",", "x,y,z")
  replaced = replace("1.2.3", ".", "_")
  re       = regex_replace("ami-123", "[0-9]+", "N")
  trimmed  = trimspace("  padded  ")
  fmt      = format("%s-%03d", "web", 7)
  sub      = substr("abcdef", 1, 3)
  big      = max(3, 9, 4)
  floor    = floor(4.9)
  parsed   = parseint("ff", 16)
  chomp    = chomp("line\n")
  indent   = indent(2, "a\nb")
  title    = title("hello world")
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
