package protocol

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
)

// challengedProof builds a proof in challenge mode and opens it, as a
// server would before checking the challenge.
func challengedProof(t *testing.T, challenge func(n *Nonce) []byte) *Claims {
	t.Helper()
	entropy := testEntropy(t, MinEntropySize)
	in := testInput(t, SuiteP256, entropy)
	n, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	in.Nonce = n
	in.Challenge = challenge(n)
	proof, _, err := NewProof(in)
	if err != nil {
		t.Fatal(err)
	}
	env, err := ParseProof(proof)
	if err != nil {
		t.Fatal(err)
	}
	c, err := env.Open(serverKey(t, SuiteP256))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(entropy, testSampling); err != nil {
		t.Fatalf("a proof in challenge mode does not verify with its own challenge: %v", err)
	}
	return c
}

func TestCheckChallenge(t *testing.T) {
	key := bytes.Repeat([]byte{7}, ChallengeKeySize)
	now := time.Unix(1767225600, 0)
	later := now.Add(time.Minute)
	other, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	made := func(key []byte, role, clientID string, commitment func(*Nonce) [32]byte, expires time.Time) func(*Nonce) []byte {
		return func(n *Nonce) []byte {
			c, err := NewChallenge(key, role, clientID, commitment(n), expires)
			if err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
	own := func(n *Nonce) [32]byte { return n.Commitment() }
	cases := []struct {
		name      string
		challenge func(*Nonce) []byte
		now       time.Time
		want      error
	}{
		{"valid", made(key, "web", "client-1", own, later), now, nil},
		{"valid until the second it expires", made(key, "web", "client-1", own, later), later, nil},
		{"expired", made(key, "web", "client-1", own, later), later.Add(time.Second), ErrChallengeStale},
		{"other key", made(bytes.Repeat([]byte{8}, 32), "web", "client-1", own, later), now, ErrChallenge},
		{"other role", made(key, "db", "client-1", own, later), now, ErrChallenge},
		{"other client", made(key, "web", "client-2", own, later), now, ErrChallenge},
		{"made for another nonce", made(key, "web", "client-1", func(*Nonce) [32]byte { return other.Commitment() }, later), now, ErrChallenge},
		{"truncated", func(n *Nonce) []byte { return made(key, "web", "client-1", own, later)(n)[:ChallengeSize-1] }, now, ErrChallenge},
		{"expiry altered", func(n *Nonce) []byte {
			c := made(key, "web", "client-1", own, later)(n)
			c[7]++
			return c
		}, now, ErrChallenge},
		{"none", func(*Nonce) []byte { return nil }, now, ErrChallenge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := challengedProof(t, tc.challenge)
			if err := c.CheckChallenge(key, tc.now); !errors.Is(err, tc.want) {
				t.Fatalf("CheckChallenge = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestChallengesAreFresh(t *testing.T) {
	key := bytes.Repeat([]byte{7}, ChallengeKeySize)
	n, _ := NewNonce()
	a, _ := NewChallenge(key, "web", "c", n.Commitment(), time.Now())
	b, _ := NewChallenge(key, "web", "c", n.Commitment(), time.Now())
	if bytes.Equal(a, b) || len(a) != ChallengeSize {
		t.Fatal("two challenges for one commitment are equal: the server's random part is missing")
	}
}

func TestNonceCommitmentIsDomainSeparated(t *testing.T) {
	n, _ := NewNonce()
	var c Claims
	c.p = &payload{nonce: *n}
	if n.Commitment() == c.NonceID() {
		t.Fatal("the commitment sent before login equals the nonce ID: the two must not be linkable")
	}
}

func TestCommitmentEncoding(t *testing.T) {
	n, err := NewNonce()
	if err != nil {
		t.Fatal(err)
	}
	c := n.Commitment()
	enc := EncodeCommitment(c)
	got, err := ParseCommitment(enc)
	if err != nil || got != c {
		t.Fatalf("ParseCommitment(EncodeCommitment(c)) = %x, %v; want %x", got, err, c)
	}
	for _, bad := range []string{
		"",
		enc[:42],
		enc + "A",
		enc[:41] + "\n" + enc[41:], // the decoder would skip the newline
		enc[:42] + "=",             // padded
		"+" + enc[1:],              // standard alphabet
		strings.Repeat("_", 43),    // 43 characters whose last bits are not zero
	} {
		if _, err := ParseCommitment(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseCommitment(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}

func TestChallengeEncoding(t *testing.T) {
	ch, err := NewChallenge(make([]byte, ChallengeKeySize), "r", "c", [32]byte{1}, time.Unix(1e9, 0))
	if err != nil {
		t.Fatal(err)
	}
	enc := EncodeChallenge(ch)
	got, err := ParseChallenge(enc)
	if err != nil || !bytes.Equal(got, ch) {
		t.Fatalf("ParseChallenge(EncodeChallenge(ch)) = %x, %v", got, err)
	}
	for _, bad := range []string{"", enc[:len(enc)-1], enc + "A", enc[:10] + "\r" + enc[11:], EncodeChallenge(ch[:ChallengeSize-1])} {
		if _, err := ParseChallenge(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseChallenge(%q) = %v, want ErrMalformed", bad, err)
		}
	}
}
