# © Broadcom. All Rights Reserved.
# The term "Broadcom" refers to Broadcom Inc. and/or its subsidiaries.
# SPDX-License-Identifier: MPL-2.0

# VMware Fusion Pro on Apple Silicon - Clone from OVF

source_path   = "/path/to/debian-arm64.ovf"
vm_name       = "debian-arm64-clone"
guest_os_type = "arm-debian-64"
