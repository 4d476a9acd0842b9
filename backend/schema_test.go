package backend

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"
)

// schemaRecord is one stored record type, for the tests of its upgrade
// function and of the read helper that calls it.
type schemaRecord struct {
	// sample is a populated record of the current version.
	sample func() versioned
	// upgrade calls the type's upgrade function.
	upgrade func(versioned) error
	// key is where read finds the record.
	key  string
	read func(ctx context.Context, b *entropyBackend, s logical.Storage) error
	// encode is how the record's version stores it (nil: JSON alone).
	encode func(key string, v versioned) (*logical.StorageEntry, error)
}

func schemaRecords() map[string]schemaRecord {
	now := time.Unix(1_800_000_000, 0).UTC()
	return map[string]schemaRecord{
		"client": {
			sample: func() versioned {
				return &clientEntry{SchemaVersion: 1, ClientID: "a", Role: "web", Generation: 3, EntropySize: 16, CreatedAt: now, GenerationCreatedAt: now}
			},
			// From version 2 on, the entropy follows the record
			// (client_value.go); version 1 stored the record alone.
			encode: func(key string, v versioned) (*logical.StorageEntry, error) {
				c := v.(*clientEntry)
				if c.SchemaVersion == 1 {
					return logical.StorageEntryJSON(key, c)
				}
				record, err := json.Marshal(c)
				if err != nil {
					return nil, err
				}
				return &logical.StorageEntry{Key: key, Value: append(append(record, '\n'), make([]byte, c.EntropySize)...)}, nil
			},
			upgrade: func(v versioned) error { return upgradeClient(v.(*clientEntry)) },
			key:     clientStorageKey("web", "a"),
			read: func(ctx context.Context, b *entropyBackend, s logical.Storage) error {
				_, err := b.client(ctx, s, "web", "a")
				return err
			},
		},
		"role": {
			sample: func() versioned {
				return &roleEntry{SchemaVersion: 1, InstanceID: "i", EntropySize: 4096, RotationPeriod: time.Hour, LockoutDuration: time.Minute}
			},
			upgrade: func(v versioned) error { return upgradeRole(v.(*roleEntry)) },
			key:     roleStorageKey("web"),
			read: func(ctx context.Context, b *entropyBackend, s logical.Storage) error {
				_, err := b.role(ctx, s, "web")
				return err
			},
		},
		"config": {
			sample: func() versioned {
				c := defaultConfig()
				c.SchemaVersion = 1
				return c
			},
			upgrade: func(v versioned) error { return upgradeConfig(v.(*configEntry)) },
			key:     configStorageKey,
			read: func(ctx context.Context, b *entropyBackend, s logical.Storage) error {
				_, err := b.config(ctx, s)
				return err
			},
		},
		"keyring": {
			sample: func() versioned {
				return &keyring{SchemaVersion: 1, Keys: []storedKey{{ID: "k", Suite: "p256-hkdf-sha256-aes-256-gcm", CreatedAt: now}}}
			},
			upgrade: func(v versioned) error { return upgradeKeyring(v.(*keyring)) },
			key:     keyringStorageKey,
			read: func(ctx context.Context, _ *entropyBackend, s logical.Storage) error {
				_, err := readKeyring(ctx, s)
				return err
			},
		},
		"replay watermark": {
			sample:  func() versioned { return &watermarkEntry{SchemaVersion: 1, IssuedAt: now.Unix()} },
			upgrade: func(v versioned) error { return upgradeWatermark(v.(*watermarkEntry)) },
			key:     watermarkStorageKey,
			read: func(ctx context.Context, _ *entropyBackend, s logical.Storage) error {
				return newMemoryNonceStore().load(ctx, s)
			},
		},
	}
}

// schemaVersions: what each upgrade function does with each version.
var schemaVersions = map[string]struct {
	version int
	want    error // nil: read, and brought to the current version
}{
	"current":       {version: schemaVersion},
	"first (1)":     {version: 1},
	"missing (0)":   {version: 0, want: errSchemaMissing},
	"negative":      {version: -1, want: errSchemaMissing},
	"newer release": {version: schemaVersion + 1, want: errSchemaNewer},
}

func TestSchemaUpgradeFunctions(t *testing.T) {
	for typ, rec := range schemaRecords() {
		for name, tc := range schemaVersions {
			t.Run(typ+"/"+name, func(t *testing.T) {
				got := rec.sample()
				*got.schemaVersionField() = tc.version
				want := rec.sample()
				*want.schemaVersionField() = tc.version
				if tc.want == nil {
					// No version since 1 changed a field the
					// samples set: an upgrade changes the version
					// alone.
					*want.schemaVersionField() = schemaVersion
				}
				err := rec.upgrade(got)
				if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
					t.Fatalf("upgrade: %v, want %v", err, tc.want)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("upgrade changed the record: %+v, was %+v", got, want)
				}
			})
		}
	}
}

// TestSchemaReadHelpers: every read helper upgrades what it decodes, and
// its refusal names the key.
func TestSchemaReadHelpers(t *testing.T) {
	for typ, rec := range schemaRecords() {
		for name, tc := range schemaVersions {
			t.Run(typ+"/"+name, func(t *testing.T) {
				b, s := getTestBackend(t)
				r := rec.sample()
				*r.schemaVersionField() = tc.version
				encode := rec.encode
				if encode == nil {
					encode = func(key string, v versioned) (*logical.StorageEntry, error) { return logical.StorageEntryJSON(key, v) }
				}
				entry, err := encode(rec.key, r)
				if err != nil {
					t.Fatal(err)
				}
				if err := s.Put(context.Background(), entry); err != nil {
					t.Fatal(err)
				}
				err = rec.read(context.Background(), b, s)
				if tc.want == nil {
					if err != nil {
						t.Fatalf("read: %v", err)
					}
					return
				}
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), `"`+rec.key+`"`) {
					t.Fatalf("read: %v, want %v naming %q", err, tc.want, rec.key)
				}
			})
		}
	}
}

// TestEveryRecordWrittenWithSchemaVersion: after a mount has been
// configured and used, and a client rotated, every JSON record in its
// storage carries this build's schema version (a client's ends at the line
// feed its entropy follows); only the challenge key is raw, and no entropy
// is stored apart from its client.
func TestEveryRecordWrittenWithSchemaVersion(t *testing.T) {
	b, s := getTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"allowed_clock_skew": "30s"})
	mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"token_policies": "web-read"})
	c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	mustOK(t, b, s, logical.UpdateOperation, "role/web/client/a/rotate", nil)
	mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t)) // handed generation 2

	raw := 0
	for key, value := range storageSnapshot(t, s) {
		if strings.HasPrefix(key, entropyPrefix) {
			t.Fatalf("entropy stored apart from its client: %s", key)
		}
		if key == challengeKeyStorageKey {
			raw++
			continue
		}
		if strings.HasPrefix(key, clientPrefix) {
			value, _, _ = strings.Cut(value, "\n")
		}
		var rec struct {
			SchemaVersion *int `json:"schema_version"`
		}
		if err := json.Unmarshal([]byte(value), &rec); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if rec.SchemaVersion == nil || *rec.SchemaVersion != schemaVersion {
			t.Fatalf("%s written without schema version %d: %s", key, schemaVersion, value)
		}
	}
	if raw != 1 {
		t.Fatalf("%d raw entries, want the challenge key alone", raw)
	}
	if got := entropyGenerations(t, s, "web", "a"); strings.Join(got, ",") != "1,2" {
		t.Fatalf("client a's entry holds generations %v, want 1 (current) and 2 (pending)", got)
	}
}

// TestSchemaOneClientMoves: a client stored in schema version 1's form
// (record alone, each generation's entropy in an entry of its own) logs
// in, rotates and is moved to the one-entry form at its first write, which
// deletes its old entropy entries; nothing it proved is lost.
func TestSchemaOneClientMoves(t *testing.T) {
	b, s, c := setupRotation(t, nil)
	ctx := context.Background()
	key := clientStorageKey("web", "agent-1")
	rec := readClient(t, b, s, "web", "agent-1")
	putLegacyClient(t, s, rec, map[uint64][]byte{1: rec.entropy.raw()})
	b.invalidateFunc(ctx, key) // as if written by the release before

	c.login(t, b, s) // read from the old form, written nothing
	if left, _ := s.List(ctx, entropyPrefix+"web/agent-1/"); len(left) != 1 {
		t.Fatalf("a login that changed nothing moved the client: entropy entries %v", left)
	}
	c.clock.advance(time.Hour)
	if r := c.login(t, b, s); r.Rotation == nil {
		t.Fatal("no rotation issued")
	}
	if left, _ := s.List(ctx, entropyPrefix+"web/agent-1/"); len(left) != 0 {
		t.Fatalf("entropy entries left after the move: %v", left)
	}
	if got := entropyGenerations(t, s, "web", "agent-1"); strings.Join(got, ",") != "1,2" {
		t.Fatalf("the moved client holds generations %v, want 1 and 2", got)
	}
	b.invalidateFunc(ctx, key)
	if r := c.login(t, b, s); r.Generation != 2 {
		t.Fatalf("the moved client's pending generation: receipt %+v", r)
	}
}

// TestSchemaOneConfigKeepsTheCache: a config written before
// client_cache_size existed reads with the default, not with the zero that
// would turn the cache off.
func TestSchemaOneConfigKeepsTheCache(t *testing.T) {
	c := defaultConfig()
	c.SchemaVersion, c.ClientCacheSize = 1, 0
	if err := upgradeConfig(c); err != nil {
		t.Fatal(err)
	}
	if c.ClientCacheSize != defaultClientCacheSize || c.SchemaVersion != schemaVersion {
		t.Fatalf("upgraded config: cache %d, version %d", c.ClientCacheSize, c.SchemaVersion)
	}
	c.ClientCacheSize = 0 // set by an operator in version 2: kept
	if err := upgradeConfig(c); err != nil || c.ClientCacheSize != 0 {
		t.Fatalf("a version 2 config's client_cache_size=0 was changed: %d %v", c.ClientCacheSize, err)
	}
}
