locals {
  a = f(1,
  2)
  b = [[1,
  2],
  [3]]
  c = concat([1], [
    2
  ])
  d = { x = [
    1
  ] }
  e = f(g(
    1
  ), 2)
}
