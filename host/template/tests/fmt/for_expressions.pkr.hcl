a = [for x in var.list: upper(x)]
b = {for k,v in var.map: k=>v}
c = [for i, x in var.list: x if i>0]
d = {for x in var.list: x.name => x...}
e = [for x in [1,2]: x]
f = {for k, v in {a=1}: k => -v}
g = [for x in -var.y: x]
h = [
  for x in var.list :
  x
]
