# Functions in variable defaults, validations, locals, a source and a provisioner.

variable "region" {
  type    = string
  default = env("KILN_FUNCTIONS_TEST_UNSET")
}

variable "names" {
  type    = list(string)
  default = ["web", "db"]

  validation {
    condition     = can(regex("^[a-z]+$", join("", var.names)))
    error_message = "Names are lower-case letters."
  }
}

locals {
  region   = coalesce(var.region, "eu-west-1")
  stamp    = formatdate("YYYYMMDD-hhmm", "2024-03-05T10:07:00Z")
  hosts    = [for i, n in var.names : format("%s-%02d", n, i + 1)]
  motd     = templatefile("motd.tpl", { hosts = local.hosts, region = local.region })
  settings = try(local.missing.settings, { debug = false })
  subnets  = cidrsubnets("10.0.0.0/16", 8, 8)
  scripts  = fileset(path.root, "*.sh")
}

source "null" "example" {
  communicator = "none"
  image_name   = upper("${local.region}-${local.stamp}")
  hosts        = local.hosts
  motd         = local.motd
  debug        = local.settings.debug
  subnet       = local.subnets[1]
  host_ip      = cidrhost(local.subnets[0], 10)
  tags         = merge({ env = "test" }, { id = uuidv5("dns", "kiln.example") })
  checksum     = sha256(file("setup.sh"))
  port         = convert("8080", number)
}

build {
  sources = ["source.null.example"]

  provisioner "shell" {
    inline = [for s in local.scripts : "sh ${s}"]
    env    = { GREETING = trimspace(file("${path.root}/setup.sh")) }
  }
}
