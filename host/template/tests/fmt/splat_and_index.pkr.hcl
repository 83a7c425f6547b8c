a = var.list[0]
b = var.list [ 1 ]
c = var.list[*].name
d = var.list.*.id
e = var.map["key"]
f = var.nested[0][1]
g = f(x)[0]
h = "abc"[0]
i = {a=1}["a"]
j = var.x.0[1]
k = (var.l)[0]
l = var . a . b
m = in[0]
