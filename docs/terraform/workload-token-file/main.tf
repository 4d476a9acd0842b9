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

# Read with the provider's child token. Data source results are stored in
# the Terraform state: keep the state as protected as the secret.
data "vault_kv_secret_v2" "app" {
  mount = "secret"
  name  = "terraform/app"
}

output "app_config" {
  value     = data.vault_kv_secret_v2.app.data
  sensitive = true
}
