locals {
  a = 1
  # a comment on its own line ends the group
  long_name = 2
  b = 3
  // and so does this one
  c = 4
  /* and this */
  dddddd = 5
}
