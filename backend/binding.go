package backend

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// Binding: names are reused, so a client is bound to the instance of its
// role it was enrolled under, and a token to the enrollment and the role
// instance it was issued for. Each role gets a random instance ID when it
// is created (updates keep it) and each enrollment a random enrollment ID.
// A client left behind by an interrupted role deletion then cannot log in
// under a role created again with the same name, and tidy deletes it; a
// token of a deleted client or role does not renew under a client or role
// of the same name created afterwards. Every role, client and token holds
// its IDs from the start; an empty one matches nothing.

// Keys of the auth's internal data that bind a token (InternalData is kept
// by Vault with the token and never sent to its holder).
const (
	metaEnrollmentID   = "enrollment_id"
	metaRoleInstanceID = "role_instance_id"
)

// bindingIDBytes is the size of a role instance or enrollment ID: enough
// that two are never equal by chance.
const bindingIDBytes = 16

var errStaleClient = errors.New("client was enrolled under an earlier instance of its role (deleted and created again); tidy deletes it")

// newBindingID returns a fresh random role instance or enrollment ID.
func newBindingID() (string, error) {
	id := make([]byte, bindingIDBytes)
	if _, err := rand.Read(id); err != nil {
		return "", err
	}
	return hex.EncodeToString(id), nil
}

// sameBindingID compares two IDs in constant time; an empty ID (a token
// or record that lacks it) matches nothing.
func sameBindingID(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// boundTo reports whether c was enrolled under this instance of r.
func (c *clientEntry) boundTo(r *roleEntry) bool {
	return sameBindingID(c.RoleInstanceID, r.InstanceID)
}

// sharedAliasName is the alias of every enrollment of a client ID made
// with keep_identity.
func sharedAliasName(role, clientID string) string { return role + "/" + clientID }

// enrollmentAliasName is the alias of one enrollment: a client enrolled
// again after deletion gets a fresh entity.
func enrollmentAliasName(role, clientID, enrollmentID string) string {
	return role + "/" + clientID + "/" + enrollmentID
}

// loginAliasName is the alias name a login of role/clientID gets, for the
// alias lookahead: it reads the client, because the name depends on its
// enrollment. A name that is not valid or a client that does not exist
// gets role/client_id (the login itself will be refused), so that the
// lookahead says nothing about which clients exist.
func (b *entropyBackend) loginAliasName(ctx context.Context, s logical.Storage, role, clientID string) (string, error) {
	if protocol.ValidName(role) != nil || protocol.ValidName(clientID) != nil {
		return sharedAliasName(role, clientID), nil
	}
	c, err := b.client(ctx, s, role, clientID)
	if err != nil {
		return "", err
	}
	if c == nil {
		return sharedAliasName(role, clientID), nil
	}
	return c.AliasName, nil
}

// tokenBoundTo reports whether the token whose internal data is internal was
// issued to this enrollment of c under this instance of r.
func tokenBoundTo(internal map[string]interface{}, r *roleEntry, c *clientEntry) bool {
	enrollment, _ := internal[metaEnrollmentID].(string)
	instance, _ := internal[metaRoleInstanceID].(string)
	return sameBindingID(enrollment, c.EnrollmentID) && sameBindingID(instance, r.InstanceID)
}
