source"null""x"{
communicator="none"
}
build{sources=["null.x"]}
a=f(1,2)+g ( 3 )*[4][0]
b  =  var.x?1:2
