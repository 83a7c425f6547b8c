locals {
  a = [
  "one",
        "two",
    "three"
      ]
  b = [
    [1,
      2],
    [
      3,
    ],
  ]
  c = [1,
       2,
       3]
}
