// Command vault-entropy is the workload's side of the entropy auth method:
// it bootstraps the client state from an enrollment bundle, prints proofs
// and logs in to Vault. It reads VAULT_ADDR, VAULT_TOKEN, VAULT_CACERT,
// VAULT_NAMESPACE and the other VAULT_* variables as the vault CLI does.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
