package protocol

import (
	"encoding/base64"
	"errors"
	"testing"
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
			r := claims.NewReceipt(true)
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
			if !got.ChallengeRequired || got.Generation != 1 || got.Rotation.Generation != 2 ||
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
