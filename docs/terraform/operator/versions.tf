# Operator configuration: registers and mounts the entropy auth plugin, and
# manages its roles and policies. Run it with an administrator's token
# (VAULT_ADDR and VAULT_TOKEN in the environment), never with a workload's.
#
# Written against hashicorp/vault v5.11.0, for Terraform or OpenTofu 1.11
# or later (`init` downloads the provider from the registry). This
# project's test machines cannot download it, so its test replays the
# provider's requests instead: see docs/terraform.md.

terraform {
  required_version = ">= 1.11"

  required_providers {
    vault = {
      source  = "hashicorp/vault"
      version = "~> 5.11"
    }
  }
}

# Address and token come from VAULT_ADDR and VAULT_TOKEN. The provider
# derives a child token from that token (auth/token/create), so the
# operator's policy needs "update" on auth/token/create too.
provider "vault" {}
