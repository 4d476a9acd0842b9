package backend

import (
	"reflect"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestClientListReadDelete(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"client_ttl": "1h"})
	a := enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "b"})

	list := mustOK(t, b, s, logical.ListOperation, "role/web/client/", nil).Data["keys"]
	if !reflect.DeepEqual(list, []string{"a", "b"}) {
		t.Fatalf("list = %v", list)
	}

	d := mustOK(t, b, s, logical.ReadOperation, "role/web/client/a", nil).Data
	if d["client_id"] != "a" || d["role"] != "web" || d["generation"] != uint64(1) || d["expires_at"] == "" || d["expired"] != false {
		t.Fatalf("client = %v", d)
	}
	for k, v := range d {
		if s, ok := v.(string); ok && len(s) > 64 {
			t.Fatalf("client read returns a long value in %s: entropy?", k)
		}
		if _, ok := v.([]byte); ok {
			t.Fatalf("client read returns bytes in %s", k)
		}
	}

	mustOK(t, b, s, logical.DeleteOperation, "role/web/client/a", nil)
	if resp := mustOK(t, b, s, logical.ReadOperation, "role/web/client/a", nil); resp != nil {
		t.Fatalf("deleted client still reads: %v", resp.Data)
	}
	for k := range storageSnapshot(t, s) {
		if k == clientStorageKey("web", "a") || k == legacyEntropyKey("web", "a", 1) {
			t.Fatalf("delete left %s", k)
		}
	}
	resp, err := request(t, b, s, logical.UpdateOperation, "login", a.loginData(t))
	if err != logical.ErrPermissionDenied || resp != nil {
		t.Fatalf("deleted client logged in: %v %v", resp, err)
	}
}

func TestClientPathsRejectBadNames(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	for _, path := range []string{"role/web/client/A", "role/Web/client/a"} {
		for _, op := range []logical.Operation{logical.ReadOperation, logical.DeleteOperation} {
			mustFail(t, b, s, op, path, nil)
		}
	}
	mustFail(t, b, s, logical.ListOperation, "role/WEB/client/", nil)
}
