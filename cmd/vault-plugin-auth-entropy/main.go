// Command vault-plugin-auth-entropy is the entropy auth method as a Vault
// plugin. Vault starts it; operators register it in the plugin catalog.
// Run with -version, it prints its version alone (for `vault plugin
// register -version=...`) and exits; with -build-info, its version, commit,
// Go version and platform on one line.
package main

import (
	"fmt"
	"os"
	"runtime"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/plugin"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend"
	"github.com/entropy-auth/vault-plugin-auth-entropy/internal/buildinfo"
)

func main() {
	meta := &api.PluginAPIClientMeta{}
	flags := meta.FlagSet()
	version := flags.Bool("version", false, "print the plugin's version and exit")
	buildInfo := flags.Bool("build-info", false, "print the plugin's version, commit, Go version and platform, and exit")
	if err := flags.Parse(os.Args[1:]); err != nil {
		fatal(err)
	}
	if *version {
		fmt.Println(backend.Version)
		return
	}
	if *buildInfo {
		fmt.Printf("vault-plugin-auth-entropy %s commit %s %s %s/%s\n",
			backend.Version, buildinfo.Commit(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
		return
	}
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: backend.Factory,
		TLSProviderFunc:    api.VaultPluginTLSProvider(meta.GetTLSConfig()),
	}); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	hclog.New(&hclog.LoggerOptions{}).Error("plugin shutting down", "error", err)
	os.Exit(1)
}
