package adversarial

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"testing"
)

// freshMount is enabled by testAnonymousReads and used by nothing else.
const freshMount = "entropy-fresh"

// testAnonymousReads: on a freshly enabled mount the server keys already
// exist (the mount's initialization made them), and fifty anonymous reads
// of the keys and fifty challenges leave its storage byte-identical.
func testAnonymousReads(t *testing.T, e *env) {
	e.EnablePlugin(t, freshMount)
	before := e.MountStorage(t, freshMount)
	for _, key := range []string{"keyring", "challenge_key"} {
		if _, ok := before[key]; !ok {
			t.Fatalf("no %s after the mount was enabled (storage: %v)", key, before)
		}
	}
	commitment := make([]byte, sha256.Size)
	for range 50 {
		if status, body := e.anonymous(t, http.MethodGet, freshMount, "keys", nil); status != http.StatusOK {
			t.Fatalf("keys: %d %s", status, body)
		}
		if _, err := rand.Read(commitment); err != nil {
			t.Fatal(err)
		}
		data := map[string]interface{}{"role": "web", "client_id": "alice", "nonce_commitment": base64.RawURLEncoding.EncodeToString(commitment)}
		if status, body := e.anonymous(t, http.MethodPost, freshMount, "challenge", data); status != http.StatusOK {
			t.Fatalf("challenge: %d %s", status, body)
		}
	}
	assertUnchanged(t, before, e.MountStorage(t, freshMount))
}

// anonymous sends a request without a token to auth/MOUNT/PATH.
func (e *env) anonymous(t testing.TB, method, mount, path string, data map[string]interface{}) (int, string) {
	t.Helper()
	var body io.Reader
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			t.Fatal(err)
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, e.Addr+"/v1/auth/"+mount+"/"+path, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := e.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}
