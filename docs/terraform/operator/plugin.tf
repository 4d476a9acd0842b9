# The binary must already be in Vault's plugin_directory on every Vault
# server, under the name given as command. Terraform only registers it.
resource "vault_plugin" "entropy" {
  type    = "auth"
  name    = "vault-plugin-auth-entropy"
  command = "vault-plugin-auth-entropy"
  version = var.plugin_version
  sha256  = var.plugin_sha256
}

# vault_auth_backend has no plugin_version argument: pinning the version
# (Vault 1.16 or later) makes the mount run exactly this one.
resource "vault_plugin_pinned_version" "entropy" {
  type    = vault_plugin.entropy.type
  name    = vault_plugin.entropy.name
  version = vault_plugin.entropy.version
}

resource "vault_auth_backend" "entropy" {
  type        = vault_plugin.entropy.name
  path        = "entropy"
  description = "entropy auth: workloads prove they hold their enrolled entropy"

  depends_on = [vault_plugin_pinned_version.entropy]
}
