package protocol

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// loginPair builds a proof and opens it: the client's session and the
// server's claims of one login.
func loginPair(t *testing.T, s Suite) (*ClientSession, *Claims, []byte) {
	t.Helper()
	entropy := testEntropy(t, MinEntropySize)
	proof, session, err := NewProof(testInput(t, s, entropy))
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseProof(proof)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := env.Open(serverKey(t, s))
	if err != nil {
		t.Fatal(err)
	}
	return session, claims, entropy
}

func TestReceiptRoundTrip(t *testing.T) {
	for _, s := range Suites() {
		t.Run(s.String(), func(t *testing.T) {
			session, claims, entropy := loginPair(t, s)
			if session.LoginID() != claims.LoginID() || len(claims.LoginID()) != 32 {
				t.Fatalf("login IDs differ: client %q, server %q", session.LoginID(), claims.LoginID())
			}
			r := claims.NewReceipt(false)
			r.Rotation = &Rotation{Generation: 2, Entropy: testEntropy(t, MinEntropySize), SampleCount: 16, SampleLength: 32}
			pk := serverKey(t, s).Public()
			r.ServerKeys = []PublishedKey{{KeyID: pk.ID().String(), Suite: s.String(), PublicKey: pk.Bytes(), Current: true}}
			sealed, err := claims.SealReceipt(r, entropy)
			if err != nil {
				t.Fatal(err)
			}
			got, err := session.OpenReceipt(sealed)
			if err != nil {
				t.Fatal(err)
			}
			if got.ChallengeRequired || got.Generation != 1 || got.Rotation.Generation != 2 ||
				string(got.Rotation.Entropy) != string(r.Rotation.Entropy) || len(got.ServerKeys) != 1 {
				t.Fatalf("receipt changed on the way: %+v", got)
			}
		})
	}
}

func TestOpenReceiptRefuses(t *testing.T) {
	session, claims, entropy := loginPair(t, SuiteP256)
	_, otherClaims, otherEntropy := loginPair(t, SuiteP256)
	seal := func(mutate func(*Receipt)) string {
		r := claims.NewReceipt(false)
		mutate(r)
		s, err := claims.SealReceipt(r, entropy)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	keyedBy := func(e []byte) string {
		s, err := claims.SealReceipt(claims.NewReceipt(false), e)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	fromOther, err := otherClaims.SealReceipt(otherClaims.NewReceipt(false), otherEntropy)
	if err != nil {
		t.Fatal(err)
	}
	valid := seal(func(*Receipt) {})
	raw, _ := base64.RawURLEncoding.DecodeString(valid)
	raw[len(raw)-1] ^= 1
	tampered := base64.RawURLEncoding.EncodeToString(raw)

	cases := map[string]string{
		"empty":                    "",
		"not base64url":            "!!!",
		"padded":                   valid + "=",
		"truncated":                valid[:20],
		"tampered":                 tampered,
		"sealed for another login": fromOther,
		"other version":            seal(func(r *Receipt) { r.Version = 1 }),
		// What whoever holds the private key the proof was sealed to can
		// make without the client's entropy: a fake server that served its
		// own key, or a thief of the server's key.
		"keyed by other entropy":       keyedBy(testEntropy(t, MinEntropySize)),
		"keyed by part of the entropy": keyedBy(entropy[:len(entropy)-1]),
		// A thief holding 90% of the entropy, the rest guessed wrong.
		"keyed by 90% of the entropy": keyedBy(append(append([]byte(nil), entropy[:len(entropy)*9/10]...), make([]byte, len(entropy)-len(entropy)*9/10)...)),
		"current key not first": seal(func(r *Receipt) {
			pk := serverKey(t, SuiteP256).Public()
			other := serverKey(t, SuiteXWing).Public()
			r.ServerKeys = []PublishedKey{
				{KeyID: other.ID().String(), Suite: other.Suite().String(), PublicKey: other.Bytes()},
				{KeyID: pk.ID().String(), Suite: pk.Suite().String(), PublicKey: pk.Bytes(), Current: true},
			}
		}),
		"two current keys": seal(func(r *Receipt) {
			pk := serverKey(t, SuiteP256).Public()
			other := serverKey(t, SuiteXWing).Public()
			r.ServerKeys = []PublishedKey{
				{KeyID: pk.ID().String(), Suite: pk.Suite().String(), PublicKey: pk.Bytes(), Current: true},
				{KeyID: other.ID().String(), Suite: other.Suite().String(), PublicKey: other.Bytes(), Current: true},
			}
		}),
		"other login ID":   seal(func(r *Receipt) { r.LoginID = otherClaims.LoginID() }),
		"other role":       seal(func(r *Receipt) { r.Role = "db" }),
		"other client":     seal(func(r *Receipt) { r.ClientID = "client-2" }),
		"other generation": seal(func(r *Receipt) { r.Generation = 9 }),
		"rotation backwards": seal(func(r *Receipt) {
			r.Rotation = &Rotation{Generation: 1, Entropy: make([]byte, MinEntropySize), SampleCount: 16, SampleLength: 32}
		}),
		"rotation skipping a generation": seal(func(r *Receipt) {
			r.Rotation = &Rotation{Generation: 3, Entropy: make([]byte, MinEntropySize), SampleCount: 16, SampleLength: 32}
		}),
		"rotation with too little entropy": seal(func(r *Receipt) {
			r.Rotation = &Rotation{Generation: 2, Entropy: make([]byte, 100), SampleCount: 16, SampleLength: 32}
		}),
		"server key with a wrong ID": seal(func(r *Receipt) {
			pk := serverKey(t, SuiteP256).Public()
			r.ServerKeys = []PublishedKey{{KeyID: "0000000000000000", Suite: "p256-hkdf-sha256-aes-256-gcm", PublicKey: pk.Bytes()}}
		}),
		"server key listed twice": seal(func(r *Receipt) {
			pk := serverKey(t, SuiteP256).Public()
			k := PublishedKey{KeyID: pk.ID().String(), Suite: pk.Suite().String(), PublicKey: pk.Bytes()}
			current := k
			current.Current = true
			r.ServerKeys = []PublishedKey{current, k}
		}),
		"33 server keys": seal(func(r *Receipt) {
			pk := serverKey(t, SuiteP256).Public()
			r.ServerKeys = []PublishedKey{{KeyID: pk.ID().String(), Suite: pk.Suite().String(), PublicKey: pk.Bytes(), Current: true}}
			for i := 0; i < MaxServerKeys; i++ {
				k, err := GenerateKey(SuiteP256)
				if err != nil {
					t.Fatal(err)
				}
				r.ServerKeys = append(r.ServerKeys, PublishedKey{KeyID: k.Public().ID().String(), Suite: SuiteP256.String(), PublicKey: k.Public().Bytes()})
			}
		}),
		// The server refuses a proof without a challenge when the role
		// requires one; it never confirms one with challenge_required.
		"challenge required of a proof without a challenge": seal(func(r *Receipt) { r.ChallengeRequired = true }),
		// Strict base64 (§2.1): the same bytes in another text.
		"rotation entropy with a line break": sealJSON(t, claims, entropy, func(r *Receipt) {
			r.Rotation = &Rotation{Generation: 2, Entropy: make([]byte, MinEntropySize), SampleCount: 16, SampleLength: 32}
		}, func(j string) string { return strings.Replace(j, "AAAA", "AA\\nAA", 1) }),
		"rotation entropy without padding": sealJSON(t, claims, entropy, func(r *Receipt) {
			r.Rotation = &Rotation{Generation: 2, Entropy: make([]byte, MinEntropySize), SampleCount: 16, SampleLength: 32}
		}, func(j string) string { return strings.Replace(j, "AA==", "AA", 1) }),
		"rotation entropy with non-zero unused bits": sealJSON(t, claims, entropy, func(r *Receipt) {
			r.Rotation = &Rotation{Generation: 2, Entropy: make([]byte, MinEntropySize), SampleCount: 16, SampleLength: 32}
		}, func(j string) string { return strings.Replace(j, "AA==", "AB==", 1) }),
		"rotation entropy in base64url": sealJSON(t, claims, entropy, func(r *Receipt) {
			r.Rotation = &Rotation{Generation: 2, Entropy: append(make([]byte, MinEntropySize-1), 0xfb, 0xff, 0xff), SampleCount: 16, SampleLength: 32}
		}, func(j string) string { return strings.Replace(j, "+///", "-___", 1) }),
		"generation as a string": sealJSON(t, claims, entropy, nil, func(j string) string {
			return strings.Replace(j, `"generation":1`, `"generation":"1"`, 1)
		}),
		"generation with an exponent": sealJSON(t, claims, entropy, nil, func(j string) string {
			return strings.Replace(j, `"generation":1`, `"generation":1e0`, 1)
		}),
	}
	for name, sealed := range cases {
		t.Run(name, func(t *testing.T) {
			if r, err := session.OpenReceipt(sealed); !errors.Is(err, ErrResponse) || r != nil {
				t.Fatalf("OpenReceipt = %v, %v; want ErrResponse", r, err)
			}
		})
	}
	if _, err := session.OpenReceipt(valid); err != nil {
		t.Fatalf("the untouched receipt does not open: %v", err)
	}
}

// TestSealReceiptKeyed: a receipt sealed with the generation's entropy key,
// derived once, opens exactly as one sealed with the entropy; one sealed
// with the key of other entropy does not.
func TestSealReceiptKeyed(t *testing.T) {
	for _, s := range Suites() {
		t.Run(s.String(), func(t *testing.T) {
			session, claims, entropy := loginPair(t, s)
			sealed, err := claims.SealReceiptKeyed(claims.NewReceipt(false), NewEntropyKey(entropy))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := session.OpenReceipt(sealed); err != nil {
				t.Fatalf("keyed receipt refused: %v", err)
			}
			other := append([]byte(nil), entropy...)
			other[len(other)-1] ^= 1
			forged, err := claims.SealReceiptKeyed(claims.NewReceipt(false), NewEntropyKey(other))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := session.OpenReceipt(forged); !errors.Is(err, ErrResponse) {
				t.Fatalf("receipt keyed by other entropy: %v, want ErrResponse", err)
			}
		})
	}
}

// sealJSON seals, as the receipt of claims' login, the JSON of the receipt
// the server would make (edited by edit), rewritten by text: what a server
// that encodes the receipt another way sends.
func sealJSON(t *testing.T, claims *Claims, entropy []byte, edit func(*Receipt), text func(string) string) string {
	t.Helper()
	r := claims.NewReceipt(false)
	if edit != nil {
		edit(r)
	}
	pt, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	j := text(string(pt))
	if j == string(pt) {
		t.Fatal("the rewrite changed nothing")
	}
	sealed, err := claims.SealResponse(ReceiptPurpose, []byte(j), entropy)
	if err != nil {
		t.Fatal(err)
	}
	return proofEncoding.EncodeToString(sealed)
}

// TestReceiptGenerationBound: no receipt names a generation above 2^53 - 1
// (§9.2): the server does not seal one, and the client refuses one.
func TestReceiptGenerationBound(t *testing.T) {
	entropy := testEntropy(t, MinEntropySize)
	in := testInput(t, SuiteP256, entropy)
	in.Generation = MaxGeneration
	proof, session, err := NewProof(in)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseProof(proof)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := env.Open(serverKey(t, SuiteP256))
	if err != nil {
		t.Fatal(err)
	}
	r := claims.NewReceipt(false)
	if sealed, err := claims.SealReceipt(r, entropy); err != nil {
		t.Fatalf("generation 2^53 - 1: %v", err)
	} else if _, err := session.OpenReceipt(sealed); err != nil {
		t.Fatalf("generation 2^53 - 1 refused: %v", err)
	}
	r.Rotation = &Rotation{Generation: MaxGeneration + 1, Entropy: make([]byte, MinEntropySize), SampleCount: 16, SampleLength: 32}
	if _, err := claims.SealReceipt(r, entropy); err == nil {
		t.Fatal("the server sealed a rotation to generation 2^53")
	}
	sealed := sealJSON(t, claims, entropy, func(r *Receipt) {
		r.Rotation = &Rotation{Generation: MaxGeneration + 1, Entropy: make([]byte, MinEntropySize), SampleCount: 16, SampleLength: 32}
	}, func(j string) string { return j + " " })
	if _, err := session.OpenReceipt(sealed); !errors.Is(err, ErrResponse) {
		t.Fatalf("a rotation to generation 2^53: %v", err)
	}
}

// TestReceiptChallengeRequired: a receipt may say challenge_required for a
// proof that carried a challenge, and says what the role says.
func TestReceiptChallengeRequired(t *testing.T) {
	entropy := testEntropy(t, MinEntropySize)
	key := make([]byte, ChallengeKeySize)
	for _, required := range []bool{false, true} {
		in := testInput(t, SuiteP256, entropy)
		n := Nonce(vectorNonce("challenge-required"))
		in.Nonce = &n
		ch, err := NewChallenge(key, in.Role, in.ClientID, n.Commitment(), time.Now().Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		in.Challenge = ch
		proof, session, err := NewProof(in)
		if err != nil {
			t.Fatal(err)
		}
		env, err := ParseProof(proof)
		if err != nil {
			t.Fatal(err)
		}
		claims, err := env.Open(serverKey(t, SuiteP256))
		if err != nil {
			t.Fatal(err)
		}
		sealed, err := claims.SealReceipt(claims.NewReceipt(required), entropy)
		if err != nil {
			t.Fatal(err)
		}
		r, err := session.OpenReceipt(sealed)
		if err != nil || r.ChallengeRequired != required {
			t.Fatalf("challenge_required %v: %v, %v", required, r, err)
		}
	}
}
