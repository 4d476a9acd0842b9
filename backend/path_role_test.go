package backend

import (
	"reflect"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func TestRoleCRUD(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"default_sample_count": 20})
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{
		"token_policies":    "web,common",
		"token_ttl":         "10m",
		"token_max_ttl":     "1h",
		"token_bound_cidrs": "127.0.0.0/8",
		"token_type":        "service",
		"token_num_uses":    3,
		"login_bound_cidrs": "10.0.0.0/8,127.0.0.1/32",
		"client_ttl":        "720h",
		"entropy_size":      16384,
	})
	got := mustOK(t, b, s, logical.ReadOperation, "role/web", nil).Data
	want := map[string]interface{}{
		"entropy_size":      16384,
		"sample_count":      20, // from the config's default
		"sample_length":     8,
		"login_bound_cidrs": []string{"10.0.0.0/8", "127.0.0.1"},
		"client_ttl":        int64(720 * 3600),
		"token_policies":    []string{"web", "common"},
		"token_ttl":         int64(600),
		"token_max_ttl":     int64(3600),
		"token_num_uses":    3,
		"token_type":        "service",
	}
	for k, v := range want {
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %#v, want %#v", k, got[k], v)
		}
	}

	// An update changes only what it names.
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"sample_length": 64})
	got = mustOK(t, b, s, logical.ReadOperation, "role/web", nil).Data
	if got["sample_length"] != 64 || got["entropy_size"] != 16384 || !reflect.DeepEqual(got["token_policies"], []string{"web", "common"}) {
		t.Fatalf("update changed other fields: %v", got)
	}

	mustOK(t, b, s, logical.UpdateOperation, "role/db", nil)
	list := mustOK(t, b, s, logical.ListOperation, "role/", nil).Data["keys"]
	if !reflect.DeepEqual(list, []string{"db", "web"}) {
		t.Fatalf("list = %v", list)
	}

	mustOK(t, b, s, logical.DeleteOperation, "role/web", nil)
	if resp := mustOK(t, b, s, logical.ReadOperation, "role/web", nil); resp != nil {
		t.Fatalf("deleted role still reads: %v", resp.Data)
	}
}

func TestRoleRejectsBadInput(t *testing.T) {
	cases := map[string]struct {
		path string
		data map[string]interface{}
	}{
		"upper-case name":      {"role/Web", nil},
		"entropy too small":    {"role/web", map[string]interface{}{"entropy_size": protocol.MinEntropySize - 1}},
		"entropy too large":    {"role/web", map[string]interface{}{"entropy_size": protocol.MaxEntropySize + 1}},
		"entropy not a number": {"role/web", map[string]interface{}{"entropy_size": "big"}},
		"samples exceed size":  {"role/web", map[string]interface{}{"entropy_size": 4096, "sample_count": 256, "sample_length": 32}},
		"sample count zero":    {"role/web", map[string]interface{}{"sample_count": 0}},
		"sample length huge":   {"role/web", map[string]interface{}{"sample_length": 1 << 20}},
		"bad login cidr":       {"role/web", map[string]interface{}{"login_bound_cidrs": "not-a-cidr"}},
		"login cidr as path":   {"role/web", map[string]interface{}{"login_bound_cidrs": "300.0.0.0/8"}},
		"bad token cidr":       {"role/web", map[string]interface{}{"token_bound_cidrs": "300.0.0.0/8"}},
		"negative client ttl":  {"role/web", map[string]interface{}{"client_ttl": -1}},
		"ttl over max":         {"role/web", map[string]interface{}{"token_ttl": "2h", "token_max_ttl": "1h"}},
		"bad token type":       {"role/web", map[string]interface{}{"token_type": "golden"}},
		"ttl not a duration":   {"role/web", map[string]interface{}{"token_ttl": "forever"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, s := getTestBackend(t)
			mustFail(t, b, s, logical.UpdateOperation, tc.path, tc.data)
		})
	}
	t.Run("bad update of an existing role", func(t *testing.T) {
		b, s := getTestBackend(t)
		mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"token_policies": "a"})
		mustFail(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"entropy_size": 1})
	})
}

func TestRoleDeleteRemovesClients(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	c := enroll(t, b, s, "web", nil)
	enroll(t, b, s, "web", nil)
	mustOK(t, b, s, logical.DeleteOperation, "role/web", nil)
	for k := range storageSnapshot(t, s) {
		if k != configStorageKey && k != keyringStorageKey && k != challengeKeyStorageKey {
			t.Errorf("left behind after role delete: %s", k)
		}
	}
	// Recreating the role does not resurrect the client.
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	resp, err := request(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
	if err != logical.ErrPermissionDenied || (resp != nil && resp.Auth != nil) {
		t.Fatalf("deleted client logged in: %v %v", resp, err)
	}
}
