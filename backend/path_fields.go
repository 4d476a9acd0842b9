package backend

import (
	"maps"

	"github.com/hashicorp/vault/sdk/framework"
)

// The patterns and fields the role and client endpoints share, in the
// manner of tokenutil.AddTokenFields: each path declares only its own.

// rolePattern is the pattern of role/<name>, then suffix.
func rolePattern(suffix string) string {
	return "role/" + framework.GenericNameRegex("name") + suffix + "$"
}

// clientPattern is the pattern of role/<name>/client/<client_id>, then
// suffix.
func clientPattern(suffix string) string {
	return rolePattern("/client/" + framework.GenericNameRegex("client_id") + suffix)
}

// roleFields is the name field of rolePattern's paths, with the path's own.
func roleFields(own map[string]*framework.FieldSchema) map[string]*framework.FieldSchema {
	f := map[string]*framework.FieldSchema{
		"name": {Type: framework.TypeString, Description: "Name of the role."},
	}
	maps.Copy(f, own)
	return f
}

// clientFields is the name and client_id fields of clientPattern's paths,
// with the path's own.
func clientFields(own map[string]*framework.FieldSchema) map[string]*framework.FieldSchema {
	f := roleFields(map[string]*framework.FieldSchema{
		"client_id": {Type: framework.TypeString, Description: "ID of the client."},
	})
	maps.Copy(f, own)
	return f
}

// clientRequestFields is the role and client_id body fields of the
// unauthenticated endpoints a client calls (login, challenge), with the
// path's own.
func clientRequestFields(own map[string]*framework.FieldSchema) map[string]*framework.FieldSchema {
	f := map[string]*framework.FieldSchema{
		"role":      {Type: framework.TypeString, Description: "Name of the role the client is enrolled in."},
		"client_id": {Type: framework.TypeString, Description: "ID of the client."},
	}
	maps.Copy(f, own)
	return f
}
