package adversarial

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// Sizes of the wire format (docs/protocol.md §3.1, §4, §2.4) for the
// default suite, X-Wing.
const (
	encLen   = 1120
	minCT    = 98 // a version 2 payload without a challenge, sealed
	maxProof = 8192
)

// freshProof is a valid proof of the client, never sent.
func freshProof(t testing.TB, e *env, rc string) string {
	t.Helper()
	auth, err := client.NewEntropyAuth(client.WithStateFile(e.state[rc]), client.WithMountPath("auth/"+mount))
	if err != nil {
		t.Fatal(err)
	}
	lr, _, err := auth.NewLoginRequest(t.Context(), nil) // nil: not in challenge mode
	if err != nil {
		t.Fatal(err)
	}
	return lr.Proof
}

// aliceSends sends a proof as web/alice.
func aliceSends(proof func(t *testing.T, e *env) string) func(t *testing.T, e *env) response {
	return func(t *testing.T, e *env) response { return e.login(t, "web", "alice", proof(t, e)) }
}

// mutateWire sends alice's fresh proof with its decoded bytes changed by f
// and encoded canonically again.
func mutateWire(f func(wire []byte) []byte) func(t *testing.T, e *env) response {
	return aliceSends(func(t *testing.T, e *env) string {
		return encodeWire(f(decodeWire(t, freshProof(t, e, "web/alice"))))
	})
}

// mutateWireAs is mutateWire sent under other names: those the changed
// header carries, so that only the AAD (the header as sealed) differs.
func mutateWireAs(role, clientID string, f func(wire []byte) []byte) func(t *testing.T, e *env) response {
	return func(t *testing.T, e *env) response {
		return e.login(t, role, clientID, encodeWire(f(decodeWire(t, freshProof(t, e, "web/alice")))))
	}
}

// mutateText sends alice's fresh proof with its text changed by f.
func mutateText(f func(t *testing.T, s string) string) func(t *testing.T, e *env) response {
	return aliceSends(func(t *testing.T, e *env) string { return f(t, freshProof(t, e, "web/alice")) })
}

// aliceHeader is the header length of web/alice: 12 + len(role) + len(client_id).
const aliceHeader = 12 + len("web") + len("alice")

func truncateTo(n int) func([]byte) []byte {
	return func(w []byte) []byte { return w[:min(n, len(w))] }
}

func flip(i int, mask byte) func([]byte) []byte {
	return func(w []byte) []byte {
		if i < 0 {
			i += len(w)
		}
		w[i] ^= mask
		return w
	}
}

func setByte(i int, v byte) func([]byte) []byte {
	return func(w []byte) []byte { w[i] = v; return w }
}

// rawBody sends a body of n bytes: a JSON login whose proof is n-60 'A's,
// as a large attacker would.
func rawBody(n int) func(t *testing.T, e *env) response {
	return func(t *testing.T, e *env) response {
		head := `{"role":"web","client_id":"alice","proof":"`
		var b strings.Builder
		b.Grow(n)
		b.WriteString(head)
		b.WriteString(strings.Repeat("A", max(1, n-len(head)-2)))
		b.WriteString(`"}`)
		return e.post(t, []byte(b.String()))
	}
}

func jsonBody(fields map[string]interface{}) func(t *testing.T, e *env) response {
	return func(t *testing.T, e *env) response {
		body, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		return e.post(t, body)
	}
}

// encodingAttacks: the proof's text and the request's fields.
func encodingAttacks() []attack {
	return []attack{
		{name: "empty proof", send: jsonBody(map[string]interface{}{"role": "web", "client_id": "alice", "proof": ""}),
			want: fieldError("missing proof")},
		{name: "missing role", send: jsonBody(map[string]interface{}{"client_id": "alice", "proof": "AAAA"}),
			want: fieldError("missing role")},
		{name: "missing client_id", send: jsonBody(map[string]interface{}{"role": "web", "proof": "AAAA"}),
			want: fieldError("missing client_id")},
		{name: "proof and jwt", send: jsonBody(map[string]interface{}{"role": "web", "client_id": "alice", "proof": "AAAA", "jwt": "AAAA"}),
			want: fieldError("give either proof or jwt, not both")},
		{name: "jwt that is no proof", send: jsonBody(map[string]interface{}{"role": "web", "jwt": "eyJhbGciOiJub25lIn0.e30."}),
			want: fieldError("jwt is not an entropy proof")},
		{name: "proof is a JSON object", send: jsonBody(map[string]interface{}{"role": "web", "client_id": "alice", "proof": map[string]int{"a": 1}}),
			want: fieldError("proof")},
		{name: "role not a name", class: cHeader, send: func(t *testing.T, e *env) response {
			return e.login(t, "Web/../x", "alice", freshProof(t, e, "web/alice"))
		}, want: denied},
		{name: "padding", class: cMalformed, send: mutateText(func(t *testing.T, s string) string { return s + strings.Repeat("=", (4-len(s)%4)%4+1) }), want: denied},
		{name: "standard alphabet with padding", class: cMalformed, send: standardAlphabet, want: denied},
		{name: "plus for minus", class: cMalformed, send: mutateText(func(t *testing.T, s string) string { return swapChar(t, s, '-', '+') }), want: denied},
		{name: "slash for underscore", class: cMalformed, send: mutateText(func(t *testing.T, s string) string { return swapChar(t, s, '_', '/') }), want: denied},
		{name: "trailing bits set", class: cMalformed, send: mutateText(func(t *testing.T, s string) string { return setTrailingBit(t, s) }), want: denied},
		{name: "final newline", class: cMalformed, send: mutateText(func(t *testing.T, s string) string { return s + "\n" }), want: denied},
		{name: "CRLF inside", class: cMalformed, send: mutateText(func(t *testing.T, s string) string { return s[:100] + "\r\n" + s[100:] }), want: denied},
		{name: "leading space", class: cMalformed, send: mutateText(func(t *testing.T, s string) string { return " " + s }), want: denied},
		{name: "length 1 mod 4", class: cMalformed, send: mutateText(func(t *testing.T, s string) string {
			return s[:len(s)-(len(s)-1)%4]
		}), want: denied},
		{name: "non-ASCII", class: cMalformed, send: mutateText(func(t *testing.T, s string) string { return s[:10] + "é" + s[12:] }), want: denied},
		{name: "NUL byte", class: cMalformed, send: mutateText(func(t *testing.T, s string) string { return s[:10] + "\x00" + s[11:] }), want: denied},
	}
}

// swapChar replaces the first c of s by r; a fresh proof of about 2,000
// characters holds every one of the 64 characters with near certainty.
func swapChar(t testing.TB, s string, c, r byte) string {
	t.Helper()
	i := strings.IndexByte(s, c)
	if i < 0 {
		t.Fatalf("the proof has no %q", c)
	}
	return s[:i] + string(r) + s[i+1:]
}

// setTrailingBit sets the lowest unused bit of the last character: the
// same bytes under the lenient decoder, a non-canonical text (§2.1).
func setTrailingBit(t testing.TB, s string) string {
	t.Helper()
	if len(s)%4 == 0 {
		t.Fatal("this proof's last character has no unused bits")
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	v := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[v|1])
}

// standardAlphabet is the proof's bytes in RFC 4648 §4 base64 with
// padding: '+', '/' and '=' where base64url has '-', '_' and nothing.
func standardAlphabet(t *testing.T, e *env) response {
	wire := decodeWire(t, freshProof(t, e, "web/alice"))
	return e.login(t, "web", "alice", base64.StdEncoding.EncodeToString(wire))
}

// sizeAttacks: truncation at every boundary of the wire format, and
// proofs and bodies too large.
func sizeAttacks() []attack {
	h := aliceHeader
	cuts := []struct {
		name string
		n    int
	}{
		{"version only", 1},
		{"version and suite", 2},
		{"inside key_id", 6},
		{"key_id, no role length", 10},
		{"role length, no role", 11},
		{"inside client_id", h - 1},
		{"header only", h},
		{"one byte of enc", h + 1},
		{"enc one byte short", h + encLen - 1},
		{"enc, no ct", h + encLen},
		// An honest version 2 proof without a challenge is exactly at the
		// minimum (§2.4), so every cut of its ct is below it.
		{"ct below the minimum", h + encLen + minCT - 1},
		{"one byte short", -1},
	}
	var out []attack
	for _, c := range cuts {
		n := c.n
		class := cMalformed
		out = append(out, attack{name: "truncated: " + c.name, class: class, want: denied, send: mutateWire(func(w []byte) []byte {
			if n < 0 {
				return w[:len(w)+n]
			}
			return truncateTo(n)(w)
		})})
	}
	return append(out,
		attack{name: "one character too long", class: cMalformed, want: denied, send: aliceSends(func(t *testing.T, e *env) string {
			return strings.Repeat("A", maxProof+1)
		})},
		attack{name: "valid proof with bytes appended", class: cOpen, want: denied, send: mutateWire(func(w []byte) []byte { return append(w, 0) })},
		attack{name: "1 MiB body", class: cMalformed, want: denied, send: rawBody(1 << 20)},
		// Vault refuses a JSON string longer than its listener's
		// max_json_string_value_length before the plugin sees it, with a
		// 500 of its own.
		attack{name: "16 MiB proof (Vault's JSON string limit)", want: vaultJSONLimit, send: rawBody(16 << 20)},
	)
}

// sectionAttacks flip bits in each section of alice's proof: every one
// must fail before or at the opening, so none counts toward lockout. A
// name changed in the header is sent under the changed name, so that the
// header matches the request and only the AAD check (the opening) can
// refuse it, whichever order the server makes checks 6 and 8 in.
func sectionAttacks() []attack {
	h := aliceHeader
	return []attack{
		{name: "version 0", class: cVersion, want: denied, send: mutateWire(setByte(0, 0))},
		{name: "version 3", class: cVersion, want: denied, send: mutateWire(setByte(0, 3))},
		// A version 2 proof relabelled 1: its sealed payload is shorter
		// than the least a version 1 payload seals to (§8.1 step 4).
		{name: "version 2 proof relabelled version 1", class: cMalformed, want: denied, send: mutateWire(setByte(0, 1))},
		{name: "suite 0 (unassigned)", class: cSuite, want: denied, send: mutateWire(setByte(1, 0))},
		{name: "suite 4 (unassigned)", class: cSuite, want: denied, send: mutateWire(setByte(1, 4))},
		{name: "suite 255 (unassigned)", class: cSuite, want: denied, send: mutateWire(setByte(1, 255))},
		// The key exists, under another suite: refused like any other
		// refusal, not named (§8.1 step 5).
		{name: "suite P-256 with the X-Wing key_id", class: cWrongSuiteKey, want: denied, send: mutateWire(setByte(1, 2))},
		{name: "suite RSA with the X-Wing key_id", class: cWrongSuiteKey, want: denied, send: mutateWire(setByte(1, 3))},
		{name: "key_id bit flipped (named refusal)", class: cKeyNotAccepted, want: keyNotAccepted, send: mutateWire(flip(5, 0x10))},
		{name: "random key_id (named refusal)", class: cKeyNotAccepted, want: keyNotAccepted, send: mutateWire(func(w []byte) []byte {
			if _, err := rand.Read(w[2:10]); err != nil {
				panic(err)
			}
			return w
		})},
		{name: "role length + 1", class: cMalformed, want: denied, send: mutateWire(setByte(10, 4))},
		{name: "role length 0", class: cMalformed, want: denied, send: mutateWire(setByte(10, 0))},
		{name: "role byte flipped (still a name)", class: cOpen, want: denied, send: mutateWireAs("veb", "alice", flip(11, 0x01))},
		{name: "role byte flipped (not a name)", class: cMalformed, want: denied, send: mutateWire(setByte(11, 'W'))},
		{name: "client_id length 255", class: cMalformed, want: denied, send: mutateWire(setByte(14, 255))},
		{name: "client_id byte flipped (still a name)", class: cOpen, want: denied, send: mutateWireAs("web", "clice", flip(15, 0x02))},
		{name: "enc first byte", class: cOpen, want: denied, send: mutateWire(flip(h, 0x80))},
		{name: "enc middle (ML-KEM part)", class: cOpen, want: denied, send: mutateWire(flip(h+500, 0x01))},
		{name: "enc last byte (X25519 part)", class: cOpen, want: denied, send: mutateWire(flip(h+encLen-1, 0x01))},
		{name: "ct first byte (issued_at)", class: cOpen, want: denied, send: mutateWire(flip(h+encLen, 0x01))},
		{name: "ct middle (nonce)", class: cOpen, want: denied, send: mutateWire(flip(h+encLen+30, 0x01))},
		{name: "ct last byte (GCM tag)", class: cOpen, want: denied, send: mutateWire(flip(-1, 0x01))},
		// The AAD: alice's sealed body under a header that names bob. Both
		// names are real, the header parses and matches the request, but
		// the body was sealed under another info and aad, so it does not
		// open (§8.1 step 6): refused before any client is looked up, so
		// neither client's count moves.
		{name: "header re-encoded for bob (AAD mismatch)", class: cOpen, victim: "web/bob", want: denied, send: func(t *testing.T, e *env) response {
			wire := decodeWire(t, freshProof(t, e, "web/alice"))
			forged := append(header(wire[0], wire[1], wire[2:10], "web", "bob"), wire[aliceHeader:]...)
			return e.login(t, "web", "bob", encodeWire(forged))
		}},
	}
}

// vaultJSONLimit is Vault's refusal of a JSON string value over the
// listener's max_json_string_value_length: HTTP 500, Vault's choice.
var vaultJSONLimit = refusal{http.StatusInternalServerError, "JSON string value exceeds allowed length"}

// bodyLimit: a body above Vault's own max_request_size (32 MiB by
// default) is refused by Vault before the plugin sees it. The proof is
// short and the body is white space, so that no JSON limit comes first.
var bodyLimit = attack{name: "40 MiB body (Vault's max_request_size)", want: refusal{http.StatusRequestEntityTooLarge, ""},
	send: func(t *testing.T, e *env) response {
		body := `{"role":"web","client_id":"alice","proof":"AAAA"` + strings.Repeat(" ", 40<<20) + `}`
		return e.post(t, []byte(body))
	}}
