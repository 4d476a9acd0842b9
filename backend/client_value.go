package backend

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/hashicorp/vault/sdk/helper/jsonutil"
	"github.com/hashicorp/vault/sdk/logical"
)

// A client's stored value is its record as JSON, a line feed, then the
// raw entropy of its current, pending and superseded generations, in that
// order, each as long as the record says (EntropySize,
// PendingEntropySize, SupersededEntropySize; 0 for a generation the record
// does not name). JSON never holds a raw line feed, so the first one ends
// the record. Raw rather than base64 inside the JSON: a third smaller, and
// nothing to decode at a read.
//
// A schema version 1 value is the record alone, whose entropy lives in
// entries of its own.

// encodeClientValue makes the storage entry of c at key, stamped with this
// build's schema version.
func encodeClientValue(key string, c *clientEntry) (*logical.StorageEntry, error) {
	c.SchemaVersion = schemaVersion
	cur, pending, superseded := c.entropy.raw(), c.pendingEntropy.raw(), c.supersededEntropy.raw()
	switch {
	case len(cur) == 0:
		return nil, fmt.Errorf("client %q: no entropy for its generation %d", key, c.Generation)
	case (c.PendingGeneration == 0) != (len(pending) == 0):
		return nil, fmt.Errorf("client %q: pending generation %d with %d bytes of entropy", key, c.PendingGeneration, len(pending))
	case (c.SupersededGeneration == 0) != (len(superseded) == 0):
		return nil, fmt.Errorf("client %q: superseded generation %d with %d bytes of entropy", key, c.SupersededGeneration, len(superseded))
	}
	c.EntropySize, c.PendingEntropySize, c.SupersededEntropySize = len(cur), len(pending), len(superseded)
	record, err := json.Marshal(c)
	if err != nil {
		return nil, err
	}
	v := make([]byte, 0, len(record)+1+len(cur)+len(pending)+len(superseded))
	v = append(append(append(append(append(v, record...), '\n'), cur...), pending...), superseded...)
	return &logical.StorageEntry{Key: key, Value: v, SealWrap: true}, nil
}

// decodeClientValue decodes a client's stored value and upgrades its
// record (upgradeClient). A schema version 1 record (JSON alone, ending in
// the line feed Vault's JSON encoder adds) comes back with legacyEntropy
// set and no entropy, for the caller to read.
func decodeClientValue(entry *logical.StorageEntry) (*clientEntry, error) {
	record, rest, _ := bytes.Cut(entry.Value, []byte{'\n'})
	c := &clientEntry{}
	if err := jsonutil.DecodeJSON(record, c); err != nil {
		return nil, fmt.Errorf("decoding client %q: %w", entry.Key, err)
	}
	stored := c.SchemaVersion
	if err := upgradeClient(c); err != nil {
		return nil, fmt.Errorf("client %q: %w", entry.Key, err)
	}
	if stored == 1 {
		if len(rest) != 0 {
			return nil, fmt.Errorf("client %q: schema version 1 record followed by %d bytes", entry.Key, len(rest))
		}
		c.legacyEntropy = true
		return c, nil
	}
	sizes := []int{c.EntropySize, c.PendingEntropySize, c.SupersededEntropySize}
	total := 0
	for _, n := range sizes {
		if n < 0 {
			return nil, fmt.Errorf("client %q: negative entropy size", entry.Key)
		}
		total += n
	}
	if total != len(rest) || c.EntropySize == 0 ||
		(c.PendingGeneration == 0) != (c.PendingEntropySize == 0) ||
		(c.SupersededGeneration == 0) != (c.SupersededEntropySize == 0) {
		return nil, fmt.Errorf("client %q: entropy sizes %v do not match the %d bytes stored or the generations named", entry.Key, sizes, len(rest))
	}
	// Each generation's slice has its own capacity, so that nothing can
	// append into its neighbour.
	cur, pending, superseded := rest[:sizes[0]:sizes[0]], rest[sizes[0]:sizes[0]+sizes[1]:sizes[0]+sizes[1]], rest[sizes[0]+sizes[1]:]
	c.entropy, c.pendingEntropy, c.supersededEntropy = newGenerationEntropy(cur), newGenerationEntropy(pending), newGenerationEntropy(superseded)
	return c, nil
}
