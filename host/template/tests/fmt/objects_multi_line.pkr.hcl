locals {
  tags = {
  Name = "x"
      Environment   =   "prod"
    "quoted key" = 1
    k: 2
    nested = {
    inner = true
      other_key = false
    }
    after = 3
  }
  obj = { a = 1,
    bb = 2 }
}
