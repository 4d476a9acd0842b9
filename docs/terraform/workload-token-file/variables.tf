# A default, not a terraform.tfvars: Terraform gives terraform.tfvars
# precedence over TF_VAR_token_file, which would then be ignored silently.
variable "token_file" {
  type        = string
  description = "The sink file of `vault-entropy agent -sink=PATH`: one line, mode 0600."
  default     = "/run/vault-entropy/token"
}
