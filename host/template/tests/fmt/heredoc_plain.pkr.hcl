locals {
x = <<EOF
  hello   world
	tabbed line
    {not a brace}
EOF
yy = 1
}
