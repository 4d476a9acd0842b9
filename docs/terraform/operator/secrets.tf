# The KV version 2 engine the workload example reads from. Leave this out if
# your Vault already has one at secret/. The secret itself is written with
# `vault kv put`, not with Terraform, so that its value stays out of the
# Terraform state.
resource "vault_mount" "secret" {
  path = "secret"
  type = "kv"
  options = {
    version = "2"
  }
}
