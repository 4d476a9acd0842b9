package harness

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
)

// RawStorageEnv makes scripts/vault-server.sh start write
// `raw_storage_endpoint = true` into a new config.hcl.
const RawStorageEnv = "VAULT_RAW_STORAGE"

// StartRawServer is StartServer with Vault's sys/raw endpoint enabled, so
// that a test can see what a mount keeps in storage (MountStorage). It sets
// the environment of the test, so the test must not be parallel.
func StartRawServer(t *testing.T) *Server {
	t.Helper()
	t.Setenv(RawStorageEnv, "1")
	return StartServer(t)
}

// MountStorage returns every storage key of the auth method mounted at
// auth/MOUNT (relative to the mount, for instance "client/web/alice"),
// each with the SHA-256 of its value in hexadecimal: enough to tell that a
// key was added, removed or rewritten without holding the value, which may
// be secret (entropy, private keys). It reads through sys/raw, so the
// server must come from StartRawServer.
//
// An auth mount's storage lives in Vault's barrier under auth/<uuid>/,
// where uuid is the mount's "uuid" in sys/auth (not its accessor).
func (s *Server) MountStorage(t testing.TB, mount string) map[string]string {
	t.Helper()
	ctx := context.Background()
	auths, err := s.Client.Sys().ListAuthWithContext(ctx)
	if err != nil {
		t.Fatalf("listing auth mounts: %v", err)
	}
	m, ok := auths[strings.Trim(mount, "/")+"/"]
	if !ok || m.UUID == "" {
		t.Fatalf("no auth mount %q (mounts: %v)", mount, slices.Sorted(maps.Keys(auths)))
	}
	root := "sys/raw/auth/" + m.UUID + "/"
	out := map[string]string{}
	if err := s.walkRaw(ctx, root, "", out); err != nil {
		t.Fatalf("reading the storage of auth/%s: %v", mount, err)
	}
	return out
}

// walkRaw lists root+dir and descends into every folder it finds.
func (s *Server) walkRaw(ctx context.Context, root, dir string, out map[string]string) error {
	secret, err := s.Client.Logical().ListWithContext(ctx, root+dir)
	if err != nil {
		return fmt.Errorf("list %s: %w", root+dir, err)
	}
	if secret == nil {
		return nil // empty
	}
	keys, _ := secret.Data["keys"].([]interface{})
	for _, k := range keys {
		name, _ := k.(string)
		if strings.HasSuffix(name, "/") {
			if err := s.walkRaw(ctx, root, dir+name, out); err != nil {
				return err
			}
			continue
		}
		// compressed=false: sys/raw would otherwise try to decompress any
		// value whose first byte is one of its compression canaries, and
		// about one random entropy entry in fifty starts with one (a 400
		// with no text). base64: the values are binary.
		entry, err := s.Client.Logical().ReadWithDataWithContext(ctx, root+dir+name,
			map[string][]string{"compressed": {"false"}, "encoding": {"base64"}})
		if err != nil {
			return fmt.Errorf("read %s: %w", root+dir+name, err)
		}
		if entry == nil { // deleted between list and read
			continue
		}
		value, _ := entry.Data["value"].(string)
		sum := sha256.Sum256([]byte(value))
		out[dir+name] = hex.EncodeToString(sum[:])
	}
	return nil
}

// StorageDiff describes how after differs from before: keys added,
// removed and rewritten, sorted. It names keys only, never values.
func StorageDiff(before, after map[string]string) (added, removed, changed []string) {
	for k, v := range after {
		old, ok := before[k]
		switch {
		case !ok:
			added = append(added, k)
		case old != v:
			changed = append(changed, k)
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			removed = append(removed, k)
		}
	}
	slices.Sort(added)
	slices.Sort(removed)
	slices.Sort(changed)
	return added, removed, changed
}

// StorageList is one level of a MountStorage snapshot under dir (which
// ends in "/", or is "" for the top), as a storage List would return it:
// the keys directly under dir, and each folder below it once with its
// trailing "/", sorted.
func StorageList(storage map[string]string, dir string) []string {
	seen := map[string]bool{}
	for k := range storage {
		rest, ok := strings.CutPrefix(k, dir)
		if !ok || rest == "" {
			continue
		}
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			rest = rest[:i+1]
		}
		seen[rest] = true
	}
	return slices.Sorted(maps.Keys(seen))
}
