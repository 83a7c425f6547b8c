# packer: agree
locals {
  merged   = merge({ a = 1 }, { b = 2 })
  keys     = keys({ z = 1, a = 2 })
  flat     = flatten([["a"], ["b", ["c"]]])
  distinct = distinct(["a", "a", "b"])
  sorted   = sort(["b", "c", "a"])
  zipped   = zipmap(["x", "y"], [1, 2])
  sliced   = slice(["a", "b", "c", "d"], 1, 3)
  has      = contains(["a", "b"], "b")
  looked   = lookup({ a = "yes" }, "b", "default")
  elem     = element(["a", "b"], 3)
  concat   = concat(["a"], ["b"])
  compact  = compact(["a", "", "b"])
  rng      = range(3)
  coalesce = coalesce("", "second")
  union    = setunion(["a"], ["b"])
  chunks   = chunklist(["a", "b", "c"], 2)
}

source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]
}
