package client

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
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
		// docs/protocol.md §18.1.
		"no version":            func(d map[string]interface{}) { delete(d, "bundle_version") },
		"version as a string":   func(d map[string]interface{}) { d["bundle_version"] = "1" },
		"generation 2^53":       func(d map[string]interface{}) { d["generation"] = json.Number("9007199254740992") },
		"generation as decimal": func(d map[string]interface{}) { d["generation"] = json.Number("1.0") },
		"entropy with a line break": func(d map[string]interface{}) {
			e := d["entropy"].(string)
			d["entropy"] = e[:76] + "\n" + e[76:]
		},
		"entropy in base64url": func(d map[string]interface{}) {
			d["entropy"] = strings.NewReplacer("+", "-", "/", "_").Replace(d["entropy"].(string))
		},
		"entropy without padding": func(d map[string]interface{}) {
			d["entropy"] = strings.TrimRight(d["entropy"].(string), "=")
		},
		"key not current": func(d map[string]interface{}) {
			d["server_keys"].([]interface{})[0].(map[string]interface{})["current"] = false
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

// TestStateFromBundleFormat: a bundle (docs/protocol.md §18.1) with members
// the client does not know still loads.
func TestStateFromBundleFormat(t *testing.T) {
	raw, _ := testBundle(t)
	var o map[string]interface{}
	if err := json.Unmarshal(raw, &o); err != nil {
		t.Fatal(err)
	}
	d := o["data"].(map[string]interface{})
	// Unknown members are ignored, a pending generation and a state
	// version in a bundle too (§18.1).
	d["added_by_a_later_server"] = map[string]interface{}{"x": 1}
	d["pending"] = map[string]interface{}{"generation": 2, "entropy": d["entropy"], "sample_count": 16, "sample_length": 32}
	d["state_version"] = 7
	b, _ := json.Marshal(o)
	s, err := StateFromBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Pending != nil || s.Version != stateVersion {
		t.Fatalf("state from a bundle: %+v", s)
	}
}

// TestStateFileFormat: the state file of docs/protocol.md §18.2 as another
// implementation may write it: unknown members are ignored (and not
// written back); any other version, and any text of a byte string but the
// canonical one, is refused.
func TestStateFileFormat(t *testing.T) {
	raw, _ := testBundle(t)
	s, err := StateFromBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	good := filepath.Join(dir, "state.json")
	if err := s.Save(good); err != nil {
		t.Fatal(err)
	}
	saved, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(t *testing.T, mutate func(m map[string]interface{})) string {
		t.Helper()
		var m map[string]interface{}
		dec := json.NewDecoder(strings.NewReader(string(saved)))
		dec.UseNumber()
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		b, _ := json.Marshal(m)
		path := filepath.Join(t.TempDir(), "state.json")
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Run("unknown members are ignored and not written back", func(t *testing.T) {
		path := edit(t, func(m map[string]interface{}) { m["added_later"] = "x" })
		loaded, err := LoadState(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := loaded.Save(path); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(path); strings.Contains(string(b), "added_later") {
			t.Fatal("an unknown member was written back")
		}
	})
	t.Run("pending null", func(t *testing.T) {
		if _, err := LoadState(edit(t, func(m map[string]interface{}) { m["pending"] = nil })); err != nil {
			t.Fatal(err)
		}
	})
	refused := map[string]func(m map[string]interface{}){
		"state_version 2":     func(m map[string]interface{}) { m["state_version"] = 2 },
		"no state_version":    func(m map[string]interface{}) { delete(m, "state_version") },
		"generation 2^53":     func(m map[string]interface{}) { m["generation"] = json.Number("9007199254740992") },
		"generation negative": func(m map[string]interface{}) { m["generation"] = json.Number("-1") },
		"entropy with a line break": func(m map[string]interface{}) {
			e := m["entropy"].(string)
			m["entropy"] = e[:76] + "\r\n" + e[76:]
		},
		"entropy with non-zero unused bits": func(m map[string]interface{}) {
			// 8192 bytes end in a group of two, "xyz=": z has two unused
			// bits, zero in canonical text.
			e := m["entropy"].(string)
			i := strings.IndexByte(e, '=') - 1
			m["entropy"] = e[:i] + string(base64StdAlphabet[strings.IndexByte(base64StdAlphabet, e[i])|1]) + e[i+1:]
		},
		"current key second": func(m map[string]interface{}) {
			keys := m["server_keys"].([]interface{})
			other := maps.Clone(keys[0].(map[string]interface{}))
			other["current"] = false
			m["server_keys"] = []interface{}{other, keys[0]}
		},
		"pending out of step": func(m map[string]interface{}) {
			m["pending"] = map[string]interface{}{"generation": 3, "entropy": m["entropy"], "sample_count": 16, "sample_length": 32}
		},
	}
	for name, mutate := range refused {
		t.Run(name, func(t *testing.T) {
			if loaded, err := LoadState(edit(t, mutate)); !errors.Is(err, ErrCorruptState) {
				t.Fatalf("LoadState = %v, %v; want ErrCorruptState", loaded, err)
			}
		})
	}
}

const base64StdAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

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
	if len(entries) != 2 || entries[0].Name() != "state.json" || entries[1].Name() != "state.json.lock" {
		t.Fatalf("want the state and its lock file, found %v", entries)
	}
	if fi, err := os.Stat(path + ".lock"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file mode = %v, %v", fi, err)
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
	pending := make([]byte, 4096)
	rand.Read(pending)
	s.Pending = &PendingGeneration{Generation: 2, Entropy: pending, SampleCount: 16, SampleLength: 32}
	leaks := func(out string) bool {
		for _, e := range [][]byte{s.Entropy, pending} {
			if strings.Contains(out, fmt.Sprint(e[:8])[1:10]) || strings.Contains(out, base64.StdEncoding.EncodeToString(e)[:16]) ||
				strings.Contains(out, fmt.Sprintf("%x", e[:8])) {
				return true
			}
		}
		return false
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(verb, s) + fmt.Sprintf(verb, *s) + fmt.Sprintf(verb, s.Pending) + fmt.Sprintf(verb, *s.Pending)
		if leaks(out) {
			t.Fatalf("%s prints the entropy: %s", verb, out)
		}
		if !strings.Contains(out, "agent-1") || !strings.Contains(out, "pending generation 2") {
			t.Fatalf("%s hides the client or its pending generation: %s", verb, out)
		}
	}
}

func TestValidatePending(t *testing.T) {
	raw, _ := testBundle(t)
	base, err := StateFromBundle(raw)
	if err != nil {
		t.Fatal(err)
	}
	good := func() *PendingGeneration {
		return &PendingGeneration{Generation: 2, Entropy: make([]byte, 4096), SampleCount: 16, SampleLength: 32}
	}
	cases := []struct {
		name    string
		pending func() *PendingGeneration
		ok      bool
	}{
		{"none", func() *PendingGeneration { return nil }, true},
		{"next generation", good, true},
		{"same generation", func() *PendingGeneration { p := good(); p.Generation = 1; return p }, false},
		{"skips a generation", func() *PendingGeneration { p := good(); p.Generation = 3; return p }, false},
		{"older generation", func() *PendingGeneration { p := good(); p.Generation = 0; return p }, false},
		{"no entropy", func() *PendingGeneration { p := good(); p.Entropy = nil; return p }, false},
		{"entropy too short", func() *PendingGeneration { p := good(); p.Entropy = make([]byte, 100); return p }, false},
		{"no sampling", func() *PendingGeneration { p := good(); p.SampleCount = 0; return p }, false},
		{"sampling exceeds entropy", func() *PendingGeneration { p := good(); p.SampleLength = 4096; return p }, false},
	}
	dir := t.TempDir()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := *base
			s.Pending = tc.pending()
			if err := s.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate = %v", err)
			}
			// A state file holding it loads, or is refused as corrupt.
			b, _ := json.Marshal(s)
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			got, err := LoadState(path)
			if tc.ok != (err == nil) || (!tc.ok && !errors.Is(err, ErrCorruptState)) {
				t.Fatalf("LoadState = %v", err)
			}
			if tc.ok && (got.Pending == nil) != (s.Pending == nil) {
				t.Fatal("pending lost across save and load")
			}
		})
	}
}

// A state file written before pending and challenge_required existed
// loads with neither.
func TestStateWithoutLifecycleFieldsLoads(t *testing.T) {
	raw, sk := testBundle(t)
	s, _ := StateFromBundle(raw)
	old := map[string]interface{}{
		"state_version": 1, "mount_path": "auth/entropy", "role": "web", "client_id": "agent-1", "generation": 1,
		"entropy": base64.StdEncoding.EncodeToString(s.Entropy), "sample_count": 16, "sample_length": 32,
		"server_keys": []map[string]interface{}{{
			"key_id": sk.Public().ID().String(), "suite": sk.Public().Suite().String(),
			"public_key": base64.StdEncoding.EncodeToString(sk.Public().Bytes()), "current": true,
		}},
	}
	b, _ := json.Marshal(old)
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(path)
	if err != nil || got.Pending != nil || got.ChallengeRequired {
		t.Fatalf("old state: %v, %v", got, err)
	}
	// And what Save writes omits pending when there is none.
	if err := got.Save(path); err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	json.Unmarshal(mustRead(t, path), &fields)
	if _, ok := fields["pending"]; ok {
		t.Fatal("pending written without a pending generation")
	}
	if string(fields["challenge_required"]) != "false" {
		t.Fatalf("challenge_required = %s", fields["challenge_required"])
	}
}

func TestBundleChallengeRequiredAndNoPending(t *testing.T) {
	raw, _ := testBundle(t)
	var o map[string]map[string]interface{}
	json.Unmarshal(raw, &o)
	o["data"]["challenge_required"] = true
	o["data"]["pending"] = map[string]interface{}{"generation": 2, "entropy": o["data"]["entropy"], "sample_count": 16, "sample_length": 32}
	b, _ := json.Marshal(o)
	s, err := StateFromBundle(b)
	if err != nil || !s.ChallengeRequired || s.Pending != nil {
		t.Fatalf("state %v, %v", s, err)
	}
}

func TestSaveRemovesTemporaryFilesLeftByCrashes(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	stale := filepath.Join(dir, ".state.json.tmp-123")
	if err := os.WriteFile(stale, []byte("entropy from a killed save"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteSecretFile(path, []byte("{}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("a temporary file left by a crash survives a save: %v", err)
	}
}
