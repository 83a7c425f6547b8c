packer {
required_plugins {
docker = {
version = ">= 0.0.7"
source = "github.com/hashicorp/docker"
}
}
}
            build {
    provisioner "shell" {
                inline = ["echo hi"]
        }
}
