source   "docker"    "ubuntu"   {
  image="ubuntu"
}
variable "empty" {   }
variable "empty2" {
}
locals{}
build{
sources=["source.docker.ubuntu"]
}
