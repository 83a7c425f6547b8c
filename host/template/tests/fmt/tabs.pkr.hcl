locals {
	a	=	1
		bb = "x\ty"	# tab	
	c = [
		1,
	]
}
