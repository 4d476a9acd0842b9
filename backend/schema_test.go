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
}

func schemaRecords() map[string]schemaRecord {
	now := time.Unix(1_800_000_000, 0).UTC()
	return map[string]schemaRecord{
		"client": {
			sample: func() versioned {
				return &clientEntry{SchemaVersion: 1, ClientID: "a", Role: "web", Generation: 3, CreatedAt: now, GenerationCreatedAt: now}
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
	want    error // nil: read, unchanged
}{
	"current":       {version: schemaVersion},
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
				entry, err := logical.StorageEntryJSON(rec.key, r)
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
// configured and used, and a client rotated, every JSON entry in its storage carries
// this build's schema version; only the raw entries (entropy, the
// challenge key) do not.
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
		if strings.HasPrefix(key, entropyPrefix) || key == challengeKeyStorageKey {
			raw++
			continue
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
	if raw < 3 {
		t.Fatalf("%d raw entries, want the challenge key and two generations", raw)
	}
}
