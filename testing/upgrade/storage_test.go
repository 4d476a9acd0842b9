package upgrade

import (
	"encoding/base64"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// storedClient is harness.StoredClient; readStoredClient reads it from
// this test's mount.
type storedClient = harness.StoredClient

func readStoredClient(t *testing.T, s *harness.Server, role, id string) storedClient {
	t.Helper()
	return s.ReadStoredClient(t, mount, role, id)
}

// checkMigrated fails unless the client's entry is in schema version 2:
// the record followed by exactly the entropy of the generations it names,
// and nothing left under entropy/.
func checkMigrated(t *testing.T, s *harness.Server, role, id string) storedClient {
	t.Helper()
	c := readStoredClient(t, s, role, id)
	if !c.OneEntry() {
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
	if c.SchemaVersion != 1 || c.Trailing != 0 || len(c.LegacyEntropy) != want || c.LegacyBytesSum == 0 {
		t.Errorf("client %s/%s is not a schema version 1 record with its %d entropy entries: %+v", role, id, want, c)
	}
	return c
}

// putRaw writes a value at key of the mount's storage through sys/raw.
func putRaw(t *testing.T, s *harness.Server, key string, value []byte) {
	t.Helper()
	path := "sys/raw/auth/" + s.MountUUID(t, mount) + "/" + key
	s.Write(t, path, map[string]interface{}{"value": base64.StdEncoding.EncodeToString(value), "encoding": "base64"})
}
