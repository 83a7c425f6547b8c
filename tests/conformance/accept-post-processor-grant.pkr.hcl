# packer: differs (grant is Kiln's: a post-processor runs host commands only when the template grants it exec_host; Packer passes grant to the post-processor, which rejects it)
source "null" "web" {
  communicator = "none"
}

build {
  sources = ["source.null.web"]

  post-processor "shell-local" {
    inline = ["echo ${source.name} built"]
    grant {
      exec_host = true
    }
  }
}
