a=1
bb   = "two"
ccc= true
dddd =null
e =    [1,2]
