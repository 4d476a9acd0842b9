// Command vault is a stock Vault server and CLI built from the Go module
// proxy at the version pinned in go.mod. The project's scripts and
// integration tests run it; nothing here changes Vault's behaviour.
package main

import (
	"os"

	"github.com/hashicorp/vault/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
