locals {
  long = var.a != "" ? var.a : var.b != "" ? var.b : var.c != "" ? var.c : "fallback-value"
  wrapped = join(" ", [
    "one",
    "two",
  ])
  chained = (
    var.x +
    var.y
  )
  cond = (var.enabled
    ? "on"
    : "off")
}
