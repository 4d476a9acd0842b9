package harness

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"testing"
)

// StoredClient is what a client's entry at client/<role>/<id> holds, read
// through sys/raw (a server from StartRawServer): the record's fields the
// tests check, and how many bytes follow the record (the entropy of
// schema version 2; none in version 1, whose entropy has entries of its
// own at entropy/<role>/<id>/<generation>). Values stay in ReadStoredClient:
// only sizes and fields leave it.
type StoredClient struct {
	SchemaVersion         int    `json:"schema_version"`
	Generation            uint64 `json:"generation"`
	PendingGeneration     uint64 `json:"pending_generation"`
	SupersededGeneration  uint64 `json:"superseded_generation"`
	EntropySize           int    `json:"entropy_size"`
	PendingEntropySize    int    `json:"pending_entropy_size"`
	SupersededEntropySize int    `json:"superseded_entropy_size"`
	Locked                bool   `json:"locked"`

	Trailing       int      `json:"-"` // bytes after the record's line feed
	LegacyEntropy  []string `json:"-"` // the generations under entropy/<role>/<id>/
	LegacyBytesSum int      `json:"-"` // their total size
}

// OneEntry reports whether c is in schema version 2's form: the record
// followed by exactly the entropy of the generations it names, and nothing
// left under entropy/.
func (c StoredClient) OneEntry() bool {
	return c.SchemaVersion == 2 && c.EntropySize > 0 &&
		(c.PendingGeneration == 0) == (c.PendingEntropySize == 0) &&
		(c.SupersededGeneration == 0) == (c.SupersededEntropySize == 0) &&
		c.Trailing == c.EntropySize+c.PendingEntropySize+c.SupersededEntropySize &&
		len(c.LegacyEntropy) == 0
}

// ReadStoredClient reads a client's entries at auth/<mount> through
// sys/raw.
func (s *Server) ReadStoredClient(t testing.TB, mount, role, id string) StoredClient {
	t.Helper()
	base := "sys/raw/auth/" + s.MountUUID(t, mount) + "/"
	value := s.RawValue(t, base+"client/"+role+"/"+id)
	if value == nil {
		t.Fatalf("no client/%s/%s in storage", role, id)
	}
	record, rest, found := bytes.Cut(value, []byte{'\n'})
	if !found {
		t.Fatalf("client/%s/%s: no line feed after the record", role, id)
	}
	var c StoredClient
	if err := json.Unmarshal(record, &c); err != nil {
		t.Fatalf("client/%s/%s: %v", role, id, err)
	}
	c.Trailing = len(rest)
	list, err := s.Client.Logical().ListWithContext(t.Context(), base+"entropy/"+role+"/"+id+"/")
	if err != nil {
		t.Fatal(err)
	}
	if list != nil {
		keys, _ := list.Data["keys"].([]interface{})
		for _, k := range keys {
			g, _ := k.(string)
			c.LegacyEntropy = append(c.LegacyEntropy, g)
			c.LegacyBytesSum += len(s.RawValue(t, base+"entropy/"+role+"/"+id+"/"+g))
		}
	}
	return c
}

// MountUUID is the UUID of auth/<mount>, its storage's prefix under
// sys/raw/auth/.
func (s *Server) MountUUID(t testing.TB, mount string) string {
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

// RawValue reads one value through sys/raw; nil if there is none.
// compressed=false and base64: see MountStorage.
func (s *Server) RawValue(t testing.TB, path string) []byte {
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
