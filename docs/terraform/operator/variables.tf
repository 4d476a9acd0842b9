variable "plugin_version" {
  type        = string
  description = "What `vault-plugin-auth-entropy -version` prints, for example v0.1.0."
}

variable "plugin_sha256" {
  type        = string
  description = "SHA-256 of the plugin binary in Vault's plugin_directory (sha256sum, hex)."
}
