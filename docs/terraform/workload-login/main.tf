# The provider logs in to the entropy auth method with a proof made just
# before the run. It logs in at most once per Terraform phase (plan, apply),
# the first time a resource or data source needs Vault, and a proof is
# accepted once: see docs/terraform.md for which commands this suits.
provider "vault" {
  # address: VAULT_ADDR
  auth_login {
    path = "auth/entropy/login"
    parameters = {
      role      = var.entropy_role
      client_id = var.entropy_client_id
      proof     = var.entropy_proof
    }
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
