locals {
  script = <<EOF
#!/bin/sh
echo ${ var.name }
%{ for s in var.list ~}
echo ${s}   $${literal} %%{literal}
%{ endfor }
%{if var.x}yes%{else}no%{endif}
EOF
  after = "x"
}
