source "null" "a" {
  communicator = "none"
  x = 1

  longer_name = 2
  y = 3
}
