package backend

import (
	"context"
	"errors"
	"fmt"

	"github.com/hashicorp/vault/sdk/logical"
)

// Storage schema. Every JSON record this backend stores (client, role,
// config, keyring, replay watermark) carries schema_version, which every
// write sets to schemaVersion. Each record type has one upgrade function,
// called by the one function that decodes that type (decodeRecord): it
// brings a record of an older version to the current one, in memory, and
// refuses one it cannot read. The upgraded form reaches storage at the
// record's next write, never at the read: a read (the login's authenticate
// step among them) writes nothing, and a standby could not write anyway.
//
// Version 1 is the first release's. No release wrote a record without a
// version, so such a record is refused, naming its key, rather than read
// as defaults. A release that changes a record raises schemaVersion and
// adds its step to each upgrade function (a no-op step for the records it
// does not change):
//
//	if r.SchemaVersion == 1 {
//		// fill in what version 2 added
//		r.SchemaVersion = 2
//	}
//
// A step that changes a field's type must decode the old form itself
// first. Entropy and the challenge key are stored as raw bytes, not JSON:
// the value is the secret itself, its length is checked where it is read,
// and another format would be stored under another key.
const schemaVersion = 1

var (
	errSchemaNewer   = errors.New("written by a newer release of the plugin; downgrade is not supported")
	errSchemaMissing = errors.New("has no schema version: no release of the plugin wrote it")
)

// versioned is a JSON record with a schema version.
type versioned interface {
	schemaVersionField() *int
}

func (c *clientEntry) schemaVersionField() *int    { return &c.SchemaVersion }
func (r *roleEntry) schemaVersionField() *int      { return &r.SchemaVersion }
func (c *configEntry) schemaVersionField() *int    { return &c.SchemaVersion }
func (kr *keyring) schemaVersionField() *int       { return &kr.SchemaVersion }
func (w *watermarkEntry) schemaVersionField() *int { return &w.SchemaVersion }

// checkSchemaVersion refuses what no upgrade function can read: a version
// newer than this build's, or none.
func checkSchemaVersion(v int) error {
	switch {
	case v > schemaVersion:
		return fmt.Errorf("schema version %d, this build reads up to %d: %w", v, schemaVersion, errSchemaNewer)
	case v < 1:
		return errSchemaMissing
	}
	return nil
}

// The upgrade functions, one per record type: the place for migrations.

func upgradeClient(c *clientEntry) error { return checkSchemaVersion(c.SchemaVersion) }

func upgradeRole(r *roleEntry) error { return checkSchemaVersion(r.SchemaVersion) }

func upgradeConfig(c *configEntry) error { return checkSchemaVersion(c.SchemaVersion) }

func upgradeKeyring(kr *keyring) error { return checkSchemaVersion(kr.SchemaVersion) }

func upgradeWatermark(w *watermarkEntry) error { return checkSchemaVersion(w.SchemaVersion) }

// decodeRecord decodes a stored record of type T and upgrades it with its
// type's upgrade function; what names the type in errors, which also name
// the key.
func decodeRecord[T any, R interface {
	*T
	versioned
}](entry *logical.StorageEntry, what string, upgrade func(R) error) (R, error) {
	rec := R(new(T))
	if err := entry.DecodeJSON(rec); err != nil {
		return nil, fmt.Errorf("decoding %s %q: %w", what, entry.Key, err)
	}
	if err := upgrade(rec); err != nil {
		return nil, fmt.Errorf("%s %q: %w", what, entry.Key, err)
	}
	return rec, nil
}

func decodeClient(e *logical.StorageEntry) (*clientEntry, error) {
	return decodeRecord(e, "client", upgradeClient)
}

func decodeRole(e *logical.StorageEntry) (*roleEntry, error) {
	return decodeRecord(e, "role", upgradeRole)
}

func decodeConfig(e *logical.StorageEntry) (*configEntry, error) {
	return decodeRecord(e, "config", upgradeConfig)
}

func decodeKeyring(e *logical.StorageEntry) (*keyring, error) {
	return decodeRecord(e, "keyring", upgradeKeyring)
}

func decodeWatermark(e *logical.StorageEntry) (*watermarkEntry, error) {
	return decodeRecord(e, "replay watermark", upgradeWatermark)
}

// putRecord stores rec under key, stamped with this build's schema
// version. rec must not be a value the read cache holds: those are shared.
func putRecord(ctx context.Context, s logical.Storage, key string, rec versioned) error {
	*rec.schemaVersionField() = schemaVersion
	entry, err := logical.StorageEntryJSON(key, rec)
	if err != nil {
		return err
	}
	return s.Put(ctx, entry)
}
