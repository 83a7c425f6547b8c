locals {
  script = <<EOF
# /bin/sh
echo ${ var.name }
%{ for s in var.list ~}
ec=	0
		bb = "x\sy:P	
	
	[,0	]ho$${s}   $${literal} %?{lIteral}
als {
  script = <<EOF
# /bin/sh
echo ${ var.name }
%{ for s in var.list ~}
ec=	0
		bb = "x\sy:P	
	
	[,0	]ho$${s}   $${literal} %?{lIteral}
%{ endfor }
%{if var.x}yes%{else}no%{endif}
EOF
  after =%{ endfor }
%{if var.x}yes%{else}no%{endif}
EOF
  after = "x"
}
