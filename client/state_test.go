package client

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// testBundle returns an enrollment bundle as Vault returns it, and the
// server key it names.
func testBundle(t *testing.T) ([]byte, *protocol.PrivateKey) {
	t.Helper()
	sk, err := protocol.GenerateKey(protocol.SuiteP256)
	if err != nil {
		t.Fatal(err)
	}
	entropy := make([]byte, 8192)
	rand.Read(entropy)
	data := map[string]interface{}{
		"bundle_version": 1,
		"mount_path":     "auth/entropy",
		"role":           "web",
		"client_id":      "agent-1",
		"generation":     1,
		"entropy":        base64.StdEncoding.EncodeToString(entropy),
		"sample_count":   16,
		"sample_length":  32,
		"server_keys": []map[string]interface{}{{
			"key_id":     sk.Public().ID().String(),
			"suite":      sk.Public().Suite().String(),
			"public_key": base64.StdEncoding.EncodeToString(sk.Public().Bytes()),
			"created_at": "2026-11-23T00:00:00Z",
			"current":    true,
		}},
	}
	raw, err := json.Marshal(map[string]interface{}{"request_id": "x", "data": data})
	if err != nil {
		t.Fatal(err)
	}
	return raw, sk
}

func TestStateFromBundleBothShapes(t *testing.T) {
	raw, _ := testBundle(t)
	s, err := StateFromBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	var outer map[string]json.RawMessage
	json.Unmarshal(raw, &outer)
	s2, err := StateFromBundle(outer["data"])
	if err != nil {
		t.Fatal(err)
	}
	if s.ClientID != "agent-1" || s2.ClientID != "agent-1" || len(s.Entropy) != 8192 || s.Generation != 1 {
		t.Fatalf("state = %+v", s)
	}
}

func TestStateFromBundleRejectsBadBundles(t *testing.T) {
	raw, _ := testBundle(t)
	cases := map[string]func(d map[string]interface{}){
		"wrong version":            func(d map[string]interface{}) { d["bundle_version"] = 9 },
		"no entropy":               func(d map[string]interface{}) { delete(d, "entropy") },
		"entropy not b64":          func(d map[string]interface{}) { d["entropy"] = "***" },
		"bad role":                 func(d map[string]interface{}) { d["role"] = "Web" },
		"no client":                func(d map[string]interface{}) { d["client_id"] = "" },
		"no generation":            func(d map[string]interface{}) { d["generation"] = 0 },
		"sampling too big":         func(d map[string]interface{}) { d["sample_count"] = 257 },
		"sampling exceeds entropy": func(d map[string]interface{}) { d["sample_length"] = 1024 },
		"no keys":                  func(d map[string]interface{}) { d["server_keys"] = []interface{}{} },
		"mount slash":              func(d map[string]interface{}) { d["mount_path"] = "/auth/entropy/" },
		"key id mismatch": func(d map[string]interface{}) {
			d["server_keys"].([]interface{})[0].(map[string]interface{})["key_id"] = "0000000000000000"
		},
		"unknown suite": func(d map[string]interface{}) {
			d["server_keys"].([]interface{})[0].(map[string]interface{})["suite"] = "rot13"
		},
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			var o map[string]interface{}
			if err := json.Unmarshal(raw, &o); err != nil {
				t.Fatal(err)
			}
			mutate(o["data"].(map[string]interface{}))
			b, _ := json.Marshal(o)
			if s, err := StateFromBundle(b); err == nil {
				t.Fatalf("accepted: %+v", s)
			}
		})
	}
	for _, junk := range []string{"", "{", "[]", "null", `{"data": 5}`} {
		if _, err := StateFromBundle([]byte(junk)); err == nil {
			t.Fatalf("accepted %q", junk)
		}
	}
}

func TestStateSaveLoad(t *testing.T) {
	raw, _ := testBundle(t)
	s, err := StateFromBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "sub", "state.json")
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("state file mode = %v, %v", fi.Mode(), err)
	}
	if di, _ := os.Stat(filepath.Dir(path)); di.Mode().Perm() != 0o700 {
		t.Fatalf("state dir mode = %v", di.Mode())
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left behind: %v", entries)
	}
	got, err := LoadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.Entropy) != string(s.Entropy) || got.ClientID != s.ClientID {
		t.Fatal("state changed across save and load")
	}
	// Saving again replaces the file in place.
	s.Generation = 2
	if err := s.Save(path); err != nil {
		t.Fatal(err)
	}
	if got, _ := LoadState(path); got.Generation != 2 {
		t.Fatal("second save not visible")
	}
}

func TestLoadStateErrors(t *testing.T) {
	raw, _ := testBundle(t)
	s, _ := StateFromBundle(raw)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.json")
	if err := s.Save(good); err != nil {
		t.Fatal(err)
	}
	readable := filepath.Join(dir, "readable.json")
	b, _ := os.ReadFile(good)
	os.WriteFile(readable, b, 0o644)
	corrupt := filepath.Join(dir, "corrupt.json")
	os.WriteFile(corrupt, []byte(`{"state_version": 1, "role": `), 0o600)
	incomplete := filepath.Join(dir, "incomplete.json")
	os.WriteFile(incomplete, []byte(`{"state_version": 1, "role": "web"}`), 0o600)

	cases := map[string]struct {
		path string
		want error
	}{
		"missing":     {filepath.Join(dir, "nope.json"), ErrNoState},
		"readable":    {readable, ErrStateReadable},
		"corrupt":     {corrupt, ErrCorruptState},
		"incomplete":  {incomplete, ErrCorruptState},
		"a directory": {dir, ErrCorruptState},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := LoadState(tc.path)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if strings.Contains(errString(err), base64.StdEncoding.EncodeToString(s.Entropy)[:20]) {
				t.Fatal("error message contains entropy")
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestStateFormattingRedactsEntropy(t *testing.T) {
	raw, _ := testBundle(t)
	s, err := StateFromBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, s) + fmt.Sprintf(verb, *s)
		if strings.Contains(out, fmt.Sprint(s.Entropy[:8])[1:10]) || strings.Contains(out, base64.StdEncoding.EncodeToString(s.Entropy)[:16]) {
			t.Fatalf("%s prints the entropy: %s", verb, out)
		}
		if !strings.Contains(out, "agent-1") {
			t.Fatalf("%s hides the client: %s", verb, out)
		}
	}
}
