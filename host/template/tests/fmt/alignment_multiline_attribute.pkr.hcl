locals {
  a = 1
  bb = [
    1,
  ]
  ccc = 3
  d = {
  x = 1
  yyyy = 2 }
  eeeee = 5
  f = { g = 1 }
  hh = f(1,
  2)
  iii = 3
}
