// Command vault-plugin-auth-floor is the load harness's floor: the least an
// external auth plugin built on the same SDK can do per login. Its login
// reads nothing, checks nothing, logs nothing and returns at once an Auth
// shaped like the entropy method's (one policy, an identity alias, the
// token type and TTL asked for), so that what Vault and the plugin boundary
// cost per login is measured on its own, beside the entropy method and
// AppRole on the same server (testing/load, docs/performance.md).
//
// It authenticates nobody: it exists only in the load harness's throwaway
// Vault and must never be registered anywhere else.
package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
	"github.com/hashicorp/vault/sdk/plugin"
)

// version is what -version prints, for `vault plugin register -version`.
const version = "v0.0.0-floor"

func main() {
	meta := &api.PluginAPIClientMeta{}
	flags := meta.FlagSet()
	printVersion := flags.Bool("version", false, "print the plugin's version and exit")
	if err := flags.Parse(os.Args[1:]); err != nil {
		fatal(err)
	}
	if *printVersion {
		fmt.Println(version)
		return
	}
	if err := plugin.ServeMultiplex(&plugin.ServeOpts{
		BackendFactoryFunc: factory,
		TLSProviderFunc:    api.VaultPluginTLSProvider(meta.GetTLSConfig()),
	}); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	hclog.New(&hclog.LoggerOptions{}).Error("plugin shutting down", "error", err)
	os.Exit(1)
}

func factory(ctx context.Context, conf *logical.BackendConfig) (logical.Backend, error) {
	b := &framework.Backend{
		BackendType:    logical.TypeCredential,
		RunningVersion: version,
		PathsSpecial:   &logical.Paths{Unauthenticated: []string{"login"}},
		Paths: []*framework.Path{{
			Pattern: "login$",
			Fields: map[string]*framework.FieldSchema{
				"name":       {Type: framework.TypeString, Description: "the identity alias's name"},
				"token_type": {Type: framework.TypeString, Description: "service or batch"},
				"ttl":        {Type: framework.TypeDurationSecond, Description: "the token's TTL"},
			},
			Operations: map[logical.Operation]framework.OperationHandler{
				logical.UpdateOperation: &framework.PathOperation{Callback: login},
			},
		}},
	}
	if err := b.Setup(ctx, conf); err != nil {
		return nil, err
	}
	return b, nil
}

func login(_ context.Context, _ *logical.Request, d *framework.FieldData) (*logical.Response, error) {
	tokenType := logical.TokenTypeService
	if d.Get("token_type").(string) == "batch" {
		tokenType = logical.TokenTypeBatch
	}
	ttl := time.Duration(d.Get("ttl").(int)) * time.Second
	name := d.Get("name").(string)
	return &logical.Response{Auth: &logical.Auth{
		Policies:    []string{"default"},
		DisplayName: name,
		Alias:       &logical.Alias{Name: name},
		TokenType:   tokenType,
		LeaseOptions: logical.LeaseOptions{
			TTL:    ttl,
			MaxTTL: ttl,
		},
	}}, nil
}
