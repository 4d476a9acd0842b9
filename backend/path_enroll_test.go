package backend

import (
	"context"
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

func TestEnrollReturnsBundle(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"entropy_size": 8192, "sample_count": 8, "sample_length": 64})
	resp := mustOK(t, b, s, logical.UpdateOperation, "role/web/enroll", nil)
	d := resp.Data
	for _, field := range []string{"bundle_version", "mount_path", "role", "client_id", "generation", "entropy", "sample_count", "sample_length", "server_keys"} {
		if _, ok := d[field]; !ok {
			t.Errorf("bundle lacks %s", field)
		}
	}
	if d["mount_path"] != "auth/entropy" || d["role"] != "web" || d["generation"] != uint64(1) || d["sample_count"] != 8 || d["sample_length"] != 64 {
		t.Fatalf("bundle = %v", d)
	}
	if len(resp.Warnings) == 0 || !strings.Contains(resp.Warnings[0], "wrap") {
		t.Fatalf("unwrapped enrollment carries no warning: %v", resp.Warnings)
	}

	c := enroll(t, b, s, "web", nil)
	if len(c.entropy) != 8192 {
		t.Fatalf("entropy is %d bytes, want 8192", len(c.entropy))
	}
	if stored := readClient(t, b, s, "web", c.id).entropy.raw(); string(stored) != string(c.entropy) {
		t.Fatal("stored entropy differs from the bundle's")
	}
	if c.id == d["client_id"] {
		t.Fatal("two enrollments got the same generated client_id")
	}
}

func TestEnrollWrappedHasNoWarning(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	req := &logical.Request{
		Operation: logical.UpdateOperation, Path: "role/web/enroll", Storage: s, MountPoint: "auth/entropy/",
		WrapInfo: &logical.RequestWrapInfo{TTL: 300e9},
	}
	resp, err := b.HandleRequest(context.Background(), req)
	if err != nil || resp.IsError() || len(resp.Warnings) != 0 {
		t.Fatalf("wrapped enrollment: %v %v", resp, err)
	}
}

func TestEnrollWithClientID(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "build-agent-7"})
	if c.id != "build-agent-7" {
		t.Fatalf("client_id = %q", c.id)
	}
	// Enrolling the same name again is refused and keeps the first client.
	mustFail(t, b, s, logical.UpdateOperation, "role/web/enroll", map[string]interface{}{"client_id": "build-agent-7"})
	mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
}

func TestEnrollRejectsBadInput(t *testing.T) {
	cases := map[string]struct {
		path string
		data map[string]interface{}
	}{
		"unknown role":        {"role/nope/enroll", nil},
		"upper-case role":     {"role/Web/enroll", nil},
		"upper-case client":   {"role/web/enroll", map[string]interface{}{"client_id": "Agent"}},
		"client with slash":   {"role/web/enroll", map[string]interface{}{"client_id": "a/b"}},
		"client with space":   {"role/web/enroll", map[string]interface{}{"client_id": "a b"}},
		"client too long":     {"role/web/enroll", map[string]interface{}{"client_id": strings.Repeat("a", 129)}},
		"client leading dash": {"role/web/enroll", map[string]interface{}{"client_id": "-a"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, s := getTestBackend(t)
			mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
			mustOK(t, b, s, logical.ReadOperation, "keys", nil) // so that first use does not count as a write
			mustFail(t, b, s, logical.UpdateOperation, tc.path, tc.data)
		})
	}
}

// The help shows the wrapping token on stdin: a token on the command line
// shows in the process list.
func TestEnrollHelpReadsTheTokenFromStdin(t *testing.T) {
	if !strings.Contains(pathEnrollHelpDesc, "vault-entropy bootstrap -wrap-token=-") ||
		strings.Contains(pathEnrollHelpDesc, "-wrap-token=<") {
		t.Errorf("the enroll help does not show the stdin form:\n%s", pathEnrollHelpDesc)
	}
}
