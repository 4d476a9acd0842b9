package backend

import (
	"strings"
	"testing"

	"github.com/hashicorp/vault/sdk/logical"
)

// The jwt shape is what Vault Agent's jwt auto-auth method sends: role and
// jwt, the file's content untrimmed. It must accept exactly what the proof
// shape accepts and refuse the rest the same way.
func TestLoginJWTShape(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	other := enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-2"})
	mustOK(t, b, s, logical.UpdateOperation, "role/db", map[string]interface{}{"token_policies": "db"})

	tests := []struct {
		name string
		data func() map[string]interface{}
		// wantError is the text of a 400 naming the problem; "" with
		// denied false means a token, with denied true a bare 403.
		wantError string
		denied    bool
	}{
		{name: "proof with the newline a file ends with", data: func() map[string]interface{} {
			return map[string]interface{}{"role": "web", "jwt": c.proof(t) + "\n"}
		}},
		{name: "surrounded by spaces and tabs", data: func() map[string]interface{} {
			return map[string]interface{}{"role": "web", "jwt": " \t" + c.proof(t) + "\r\n"}
		}},
		{name: "surrounded by vertical tab and form feed (ASCII white space)", data: func() map[string]interface{} {
			return map[string]interface{}{"role": "web", "jwt": "\v\f" + c.proof(t) + "\f\v"}
		}},
		// Only ASCII white space is trimmed (docs/protocol.md §8.1):
		// strings.TrimSpace would also take these.
		{name: "surrounded by no-break spaces", wantError: "not an entropy proof", data: func() map[string]interface{} {
			return map[string]interface{}{"role": "web", "jwt": "\u00a0" + c.proof(t) + "\u00a0"}
		}},
		{name: "ending with an em space", wantError: "not an entropy proof", data: func() map[string]interface{} {
			return map[string]interface{}{"role": "web", "jwt": c.proof(t) + "\u2003"}
		}},
		{name: "with the matching client_id", data: func() map[string]interface{} {
			return map[string]interface{}{"role": "web", "client_id": c.id, "jwt": c.proof(t)}
		}},
		{name: "with another client's client_id", denied: true, data: func() map[string]interface{} {
			return map[string]interface{}{"role": "web", "client_id": other.id, "jwt": c.proof(t)}
		}},
		{name: "role other than the proof's", denied: true, data: func() map[string]interface{} {
			return map[string]interface{}{"role": "db", "jwt": c.proof(t)}
		}},
		{name: "both proof and jwt", wantError: "either proof or jwt", data: func() map[string]interface{} {
			return map[string]interface{}{"role": "web", "proof": c.proof(t), "jwt": c.proof(t)}
		}},
		{name: "a real JWT", wantError: "not an entropy proof", data: func() map[string]interface{} {
			return map[string]interface{}{"role": "web", "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"}
		}},
		{name: "whitespace only", wantError: "not an entropy proof", data: func() map[string]interface{} {
			return map[string]interface{}{"role": "web", "jwt": " \n"}
		}},
		{name: "no role", wantError: "missing role", data: func() map[string]interface{} {
			return map[string]interface{}{"jwt": c.proof(t)}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.data()
			before := storageSnapshot(t, s)
			resp, err := request(t, b, s, logical.UpdateOperation, "login", d)
			switch {
			case tt.wantError != "":
				if err != nil || resp == nil || !resp.IsError() || resp.Auth != nil || !strings.Contains(resp.Error().Error(), tt.wantError) {
					t.Fatalf("resp=%v err=%v, want a 400 saying %q", resp, err, tt.wantError)
				}
				if !equalSnapshots(before, storageSnapshot(t, s)) {
					t.Fatal("a malformed login changed storage")
				}
			case tt.denied:
				if err != logical.ErrPermissionDenied || resp != nil {
					t.Fatalf("resp=%v err=%v, want permission denied", resp, err)
				}
			default:
				if err != nil || resp == nil || resp.Auth == nil {
					t.Fatalf("resp=%v err=%v, want a token", resp, err)
				}
				if got := resp.Auth.Metadata[metaClientID]; got != c.id {
					t.Fatalf("client_id metadata %q, want %q", got, c.id)
				}
				if got := resp.Auth.Alias.Name; got != readClient(t, b, s, "web", c.id).AliasName {
					t.Fatalf("alias %q", got)
				}
				if _, ok := resp.Data["receipt"].(string); !ok {
					t.Fatal("no receipt")
				}
				// The same file read again is a replay.
				if resp, err := request(t, b, s, logical.UpdateOperation, "login", d); err != logical.ErrPermissionDenied || resp != nil {
					t.Fatalf("replayed jwt: resp=%v err=%v", resp, err)
				}
			}
		})
	}

	t.Run("alias lookahead and role resolution", func(t *testing.T) {
		d := map[string]interface{}{"role": "web", "jwt": c.proof(t) + "\n"}
		if resp := mustOK(t, b, s, logical.AliasLookaheadOperation, "login", d); resp.Auth.Alias.Name != readClient(t, b, s, "web", c.id).AliasName {
			t.Fatalf("alias = %v", resp.Auth.Alias)
		}
		if resp := mustOK(t, b, s, logical.ResolveRoleOperation, "login", d); resp.Data["role"] != "web" {
			t.Fatalf("resolve role = %v", resp.Data)
		}
	})
}
