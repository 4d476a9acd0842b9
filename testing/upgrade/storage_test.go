package upgrade

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// storedClient is what a client's entry at client/<role>/<id> holds, read
// through sys/raw: the record's fields this test checks, and how many bytes
// follow the record (the entropy of schema version 2; none in version 1,
// whose entropy has entries of its own at entropy/<role>/<id>/<generation>).
type storedClient struct {
	SchemaVersion         int    `json:"schema_version"`
	Generation            uint64 `json:"generation"`
	PendingGeneration     uint64 `json:"pending_generation"`
	SupersededGeneration  uint64 `json:"superseded_generation"`
	EntropySize           int    `json:"entropy_size"`
	PendingEntropySize    int    `json:"pending_entropy_size"`
	SupersededEntropySize int    `json:"superseded_entropy_size"`
	Locked                bool   `json:"locked"`

	trailing       int      // bytes after the record's line feed
	legacyEntropy  []string // the generations under entropy/<role>/<id>/
	legacyBytesSum int      // their total size
}

// readStoredClient reads the client's entries through sys/raw (the server
// must come from harness.StartRawServer). Values stay in this function:
// only sizes and fields leave it.
func readStoredClient(t *testing.T, s *harness.Server, role, id string) storedClient {
	t.Helper()
	base := "sys/raw/auth/" + mountUUID(t, s) + "/"
	value := rawValue(t, s, base+"client/"+role+"/"+id)
	if value == nil {
		t.Fatalf("no client/%s/%s in storage", role, id)
	}
	record, rest, found := bytes.Cut(value, []byte{'\n'})
	if !found {
		t.Fatalf("client/%s/%s: no line feed after the record", role, id)
	}
	var c storedClient
	if err := json.Unmarshal(record, &c); err != nil {
		t.Fatalf("client/%s/%s: %v", role, id, err)
	}
	c.trailing = len(rest)
	list, err := s.Client.Logical().ListWithContext(t.Context(), base+"entropy/"+role+"/"+id+"/")
	if err != nil {
		t.Fatal(err)
	}
	if list != nil {
		keys, _ := list.Data["keys"].([]interface{})
		for _, k := range keys {
			g, _ := k.(string)
			c.legacyEntropy = append(c.legacyEntropy, g)
			c.legacyBytesSum += len(rawValue(t, s, base+"entropy/"+role+"/"+id+"/"+g))
		}
	}
	return c
}

// checkMigrated fails unless the client's entry is in schema version 2:
// the record followed by exactly the entropy of the generations it names,
// and nothing left under entropy/.
func checkMigrated(t *testing.T, s *harness.Server, role, id string) storedClient {
	t.Helper()
	c := readStoredClient(t, s, role, id)
	sizesOK := c.EntropySize > 0 &&
		(c.PendingGeneration == 0) == (c.PendingEntropySize == 0) &&
		(c.SupersededGeneration == 0) == (c.SupersededEntropySize == 0) &&
		c.trailing == c.EntropySize+c.PendingEntropySize+c.SupersededEntropySize
	if c.SchemaVersion != 2 || !sizesOK || len(c.legacyEntropy) != 0 {
		t.Errorf("client %s/%s not migrated: %+v", role, id, c)
	}
	return c
}

// checkLegacy fails unless the client's entry is still in schema version 1:
// the record alone, each generation it names in an entry of its own.
func checkLegacy(t *testing.T, s *harness.Server, role, id string) storedClient {
	t.Helper()
	c := readStoredClient(t, s, role, id)
	want := 1
	for _, g := range []uint64{c.PendingGeneration, c.SupersededGeneration} {
		if g != 0 {
			want++
		}
	}
	if c.SchemaVersion != 1 || c.trailing != 0 || len(c.legacyEntropy) != want || c.legacyBytesSum == 0 {
		t.Errorf("client %s/%s is not a schema version 1 record with its %d entropy entries: %+v", role, id, want, c)
	}
	return c
}

func mountUUID(t *testing.T, s *harness.Server) string {
	t.Helper()
	auths, err := s.Client.Sys().ListAuthWithContext(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	m, ok := auths[mount+"/"]
	if !ok || m.UUID == "" {
		t.Fatalf("no auth/%s", mount)
	}
	return m.UUID
}

// rawValue reads one value through sys/raw; nil if there is none.
// compressed=false and base64: see harness.MountStorage.
func rawValue(t *testing.T, s *harness.Server, path string) []byte {
	t.Helper()
	entry, err := s.Client.Logical().ReadWithDataWithContext(t.Context(), path,
		map[string][]string{"compressed": {"false"}, "encoding": {"base64"}})
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	if entry == nil {
		return nil
	}
	v, _ := entry.Data["value"].(string)
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	return b
}

// putRaw writes a value at key of the mount's storage through sys/raw.
func putRaw(t *testing.T, s *harness.Server, key string, value []byte) {
	t.Helper()
	path := "sys/raw/auth/" + mountUUID(t, s) + "/" + key
	s.Write(t, path, map[string]interface{}{"value": base64.StdEncoding.EncodeToString(value), "encoding": "base64"})
}
