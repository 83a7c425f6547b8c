variable "a" {type=string}
variable "b" {   default   =   "x"   }
locals {   c = 1   }
x "l" {   y = [ 1 ]   }
