a = x==y
b = x!=y
c = x<y
d = x<=-1
e = x>y&&y>=z
f = x||!y
g = !x
h = !!x
i = !(x && y)
j = x == -1 ? -1 : -2
k = x ? y : z
l = x?{a=1}:{}
