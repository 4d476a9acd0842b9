// Package terraform proves the Terraform example in docs/terraform against
// a real Vault server. The examples are for real Terraform and OpenTofu
// with the provider from the registry, which this project's test machines
// cannot reach, so the tests read the example's .tf files
// with the HCL library Terraform uses (hashicorp/hcl/v2) and replay every
// request the provider would make for them, with the same vault/api calls
// the provider's source makes (hashicorp/terraform-provider-vault v5.11.0):
// the plugin's registration, pin and mount, the KV mount, the policy, the
// role, the workload's auth_login with a fresh proof or its
// auth_login_token_file, the child token the provider derives, the
// secret read with the ephemeral vault_kv_secret_v2 resource and handed on
// through the write-only data_json_wo.
//
// TestExampleShape, TestLoaderStrictness and TestDocSnippets need no
// Vault. TestReplay runs with ENTROPY_INTEGRATION=1 (make integration-test).
package terraform
