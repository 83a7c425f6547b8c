locals {
  a = 1 # one
  bbb = "three" # three
  cc = true # two

  x = 1 // first
  longer = [1, 2, 3] // second
  # break
  y = 2 # alone
}
block { # after brace
  z = 1 # aligned with the brace's comment
}
