# The provider logs in to the entropy auth method with a proof made just
# before the run. It logs in at most once per Terraform phase (plan, apply),
# the first time something needs Vault, and a proof is
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
