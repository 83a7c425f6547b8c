build {
  provisioner "shell" {
    inline = [<<-EOT
      echo one
        echo two
      EOT
    ]
    script    = <<-SCRIPT
    #!/bin/sh
    set -e
    SCRIPT
    x = 1
  }
}
