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
// Version 1 was the first layout; version 2, still before the first
// release, moved a client's entropy into its record's entry, so that a
// login reads one entry and a rotation writes two. No release wrote a record without a
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
// first. A client's entropy follows its JSON record, raw, in the same
// entry (client_value.go); the challenge key is stored as raw bytes, its
// length checked where it is read.
const schemaVersion = 2

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

// upgradeClient: version 2 stores a client's entropy in its record's own
// entry (client_value.go); decodeClientValue marks a version 1 record, and
// the caller reads its entropy from the entries version 1 kept it in.
func upgradeClient(c *clientEntry) error {
	if err := checkSchemaVersion(c.SchemaVersion); err != nil {
		return err
	}
	if c.SchemaVersion == 1 {
		c.SchemaVersion = 2
	}
	return nil
}

// The other records are the same in version 2 as in version 1.

func upgradeRole(r *roleEntry) error { return upgradeUnchanged(&r.SchemaVersion) }

// upgradeConfig: version 2 added client_cache_size, whose zero turns the
// cache off; a version 1 config gets the default.
func upgradeConfig(c *configEntry) error {
	if err := checkSchemaVersion(c.SchemaVersion); err != nil {
		return err
	}
	if c.SchemaVersion == 1 {
		c.ClientCacheSize = defaultClientCacheSize
	}
	c.SchemaVersion = schemaVersion
	return nil
}

func upgradeKeyring(kr *keyring) error { return upgradeUnchanged(&kr.SchemaVersion) }

func upgradeWatermark(w *watermarkEntry) error { return upgradeUnchanged(&w.SchemaVersion) }

// upgradeUnchanged is the upgrade of a record no version since 1 changed.
func upgradeUnchanged(v *int) error {
	if err := checkSchemaVersion(*v); err != nil {
		return err
	}
	*v = schemaVersion
	return nil
}

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
