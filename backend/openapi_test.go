package backend

import (
	"context"
	"testing"

	"github.com/hashicorp/vault/sdk/framework"
	"github.com/hashicorp/vault/sdk/logical"
)

// TestOpenAPIOperationIDsAreUnique builds the OpenAPI document Vault serves
// for the mount: every path must have a description and every operation an
// ID of its own, or generated clients collide.
func TestOpenAPIOperationIDsAreUnique(t *testing.T) {
	b, s := getTestBackendWithSystem(t, &logical.StaticSystemView{
		PluginEnvironment: &logical.PluginEnvironment{VaultVersion: "1.21.0"},
	})
	resp, err := b.HandleRequest(context.Background(), &logical.Request{Operation: logical.HelpOperation, Storage: s})
	if err != nil {
		t.Fatal(err)
	}
	doc := resp.Data["openapi"].(*framework.OASDocument)
	seen := map[string]string{}
	for path, item := range doc.Paths {
		if item.Description == "" {
			t.Errorf("%s has no description", path)
		}
		for _, op := range []*framework.OASOperation{item.Get, item.Post, item.Delete} {
			if op == nil {
				continue
			}
			if prev, ok := seen[op.OperationID]; ok {
				t.Errorf("operation ID %s used by %s and %s", op.OperationID, prev, path)
			}
			seen[op.OperationID] = path
		}
	}
	for _, want := range []string{"/challenge", "/tidy", "/tidy/status", "/role/{name}/rotate",
		"/role/{name}/client/{client_id}/rotate", "/role/{name}/client/{client_id}/lock", "/role/{name}/client/{client_id}/unlock"} {
		if doc.Paths[want] == nil {
			t.Errorf("%s missing from the OpenAPI document", want)
		}
	}
}
