# Roles of the entropy auth method, through the generic endpoint resource.
#
# ignore_absent_fields: when the provider reads the role back it compares
# only the fields written here, so the many defaults the role reports do not
# show up as drift. Durations are written in seconds and lists as lists,
# the form in which Vault reads them back; "30m" would be accepted on write
# but would show as a change on every plan.
resource "vault_generic_endpoint" "role_terraform" {
  path                 = "auth/${vault_auth_backend.entropy.path}/role/terraform"
  ignore_absent_fields = true

  data_json = jsonencode({
    token_policies = [vault_policy.terraform_workload.name]
    # A service token: batch tokens cannot create the child token the
    # provider needs.
    token_type = "service"
    # At least the provider's child token TTL (max_lease_ttl_seconds,
    # default 1200 s): the child token is revoked with its parent.
    token_ttl     = 1800
    token_max_ttl = 3600
    # Entropy rotation and clone handling (docs/lifecycle.md).
    rotation_period   = 86400
    clone_action      = "lock"
    lockout_threshold = 5
  })
}
