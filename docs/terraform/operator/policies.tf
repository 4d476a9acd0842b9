# What a Terraform run that logs in with entropy may do.
resource "vault_policy" "terraform_workload" {
  name   = "terraform-workload"
  policy = <<-EOT
    # The secrets this Terraform configuration reads.
    path "secret/data/terraform/*" {
      capabilities = ["read"]
    }

    # Where the workload example hands the secret on: the write, the
    # provider's read back of the data and its metadata, destroy's delete.
    path "secret/data/deployed/app" {
      capabilities = ["create", "update", "read", "delete"]
    }
    path "secret/metadata/deployed/app" {
      capabilities = ["read"]
    }

    # The Vault provider derives a short-lived child token from the token it
    # logs in with (auth/token/create). Without this it stops with 403
    # permission denied before it reads anything. A non-root token can only
    # give its children a subset of its own policies.
    path "auth/token/create" {
      capabilities = ["update"]
    }
  EOT
}
