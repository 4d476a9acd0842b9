# The provider takes the token that `vault-entropy agent` keeps fresh in its
# sink file. The agent logs in with entropy, renews, logs in again before
# the token's max TTL and rotates entropy; Terraform only reads the file,
# once per phase, so plan, apply and any number of runs work.
provider "vault" {
  # address: VAULT_ADDR
  auth_login_token_file {
    filename = var.token_file
  }
}

# Read with the provider's child token, as an ephemeral resource: opened in
# every phase that needs it, never written to the state or a plan file.
ephemeral "vault_kv_secret_v2" "app" {
  mount = "secret"
  name  = "terraform/app"
}

# An ephemeral value goes only where ephemeral values may: a provider block,
# a write-only argument, an ephemeral variable or local. Here, to need nothing
# but Vault, it is a write-only argument of the provider's own resource: the
# configuration handed on to the path the deployed application reads. In
# your configuration, the consumer is whatever needs the secret.
resource "vault_kv_secret_v2" "deployed" {
  mount        = "secret"
  name         = "deployed/app"
  data_json_wo = jsonencode(ephemeral.vault_kv_secret_v2.app.data)
  # Write-only values are not compared: raise this to send the value again.
  data_json_wo_version = 1
}
