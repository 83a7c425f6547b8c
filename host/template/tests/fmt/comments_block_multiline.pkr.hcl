/*
 * A header
     with odd indentation
 */
locals {
    /* multi
  line
    comment */
  a = 1
  /* one */ /* two */
  b = 2
}
