# © Broadcom. All Rights Reserved.
# The term "Broadcom" refers to Broadcom Inc. and/or its subsidiaries.
# SPDX-License-Identifier: MPL-2.0

# VMware Fusion Pro on Intel - Clone from OVF

source_path = "/path/to/debian-amd64.ovf"
vm_name     = "debian-amd64-clone"
