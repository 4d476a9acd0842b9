variable "entropy_role" {
  type        = string
  description = "The entropy role the client is enrolled in."
}

variable "entropy_client_id" {
  type        = string
  description = "The client's ID (vault-entropy proof -format=json prints it)."
}

# A fresh single-use proof: TF_VAR_entropy_proof="$(vault-entropy proof)".
# Ephemeral (Terraform 1.10 or later): it is not written to a saved plan,
# so `terraform apply PLANFILE` asks for it again and gets a fresh one.
variable "entropy_proof" {
  type      = string
  ephemeral = true
  sensitive = true
}
