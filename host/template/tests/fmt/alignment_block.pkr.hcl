build {
  name = "x"
  description = "y"
  source "null.a" {
    name = "z"
  }
  sources = ["null.a"]
  x = 1
}
