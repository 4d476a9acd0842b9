package protocol_test

import (
	"bufio"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// classes maps each refusal to its expect: class in docs/protocol.md §7.
var classes = []struct {
	err   error
	class string
}{
	{protocol.ErrMalformed, "malformed"},
	{protocol.ErrVersion, "version"},
	{protocol.ErrSuite, "suite"},
	{protocol.ErrUnknownKey, "unknown-key"},
	{protocol.ErrOpen, "open"},
	{protocol.ErrHeaderMismatch, "header-mismatch"},
	{protocol.ErrTooOld, "too-old"},
	{protocol.ErrFromFuture, "from-future"},
	{protocol.ErrGeneration, "generation"},
	{protocol.ErrChallenge, "challenge"},
	{protocol.ErrSampling, "ranges"},
	{protocol.ErrRanges, "ranges"},
	{protocol.ErrDigest, "digest"},
}

// TestVectors verifies every vector in docs/vectors the way an independent
// implementation would, using the exported API only.
func TestVectors(t *testing.T) {
	files, err := filepath.Glob("../../docs/vectors/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no test vectors in docs/vectors")
	}
	seen := map[string]bool{}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) {
			h, proof := readVector(t, f)
			got := verifyVector(t, h, proof)
			if got != h["expect"] {
				t.Fatalf("verifier says %q, vector expects %q (%s)", got, h["expect"], h["comment"])
			}
			seen[got] = true
			if got == "ok" {
				checkRanges(t, h)
			}
		})
	}
	for _, c := range append(classes, struct {
		err   error
		class string
	}{nil, "ok"}) {
		if !seen[c.class] {
			t.Errorf("no vector of class %q", c.class)
		}
	}
}

func readVector(t *testing.T, path string) (map[string]string, string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	h := map[string]string{}
	for sc.Scan() && sc.Text() != "" {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			t.Fatalf("bad header line %q", sc.Text())
		}
		h[k] = v
	}
	if !sc.Scan() {
		t.Fatal("no proof after the header")
	}
	if h["expect"] == "" {
		t.Fatal("no expect: line")
	}
	// CR and LF cannot stand in a line; the vectors write them as %0D%0A.
	return h, strings.ReplaceAll(sc.Text(), "%0D%0A", "\r\n")
}

func verifyVector(t *testing.T, h map[string]string, proof string) string {
	t.Helper()
	suite, err := protocol.ParseSuite(h["suite"])
	if err != nil {
		t.Fatal(err)
	}
	sk, err := protocol.ParsePrivateKey(suite, b64(t, h["server_private_key"]))
	if err != nil {
		t.Fatal(err)
	}
	if sk.Public().ID().String() != h["key_id"] || base64.StdEncoding.EncodeToString(sk.Public().Bytes()) != h["server_public_key"] {
		t.Fatal("key_id or public key does not match the private key")
	}
	now := time.Unix(num(t, h["now"]), 0)
	skew := time.Duration(num(t, h["skew_seconds"])) * time.Second
	sampling := protocol.Sampling{Count: int(num(t, h["sample_count"])), Length: int(num(t, h["sample_length"]))}

	check := func() error {
		env, err := protocol.ParseProof(proof)
		if err != nil {
			return err
		}
		key := sk
		if env.Header.KeyID != sk.Public().ID() {
			key = nil // the verifier holds no key of that ID
		}
		c, err := env.Open(key)
		if err != nil {
			return err
		}
		if err := c.CheckHeader(h["role"], h["client_id"]); err != nil {
			return err
		}
		if err := c.CheckTime(now, skew); err != nil {
			return err
		}
		if c.Generation() != uint64(num(t, h["generation"])) {
			return protocol.ErrGeneration
		}
		return c.Verify(b64(t, h["entropy"]), sampling, nil)
	}
	err = check()
	if err == nil {
		return "ok"
	}
	for _, c := range classes {
		if errors.Is(err, c.err) {
			return c.class
		}
	}
	t.Fatalf("error of no class: %v", err)
	return ""
}

// checkRanges recomputes the ranges from the recorded nonce, as a client
// implementer checks its range derivation.
func checkRanges(t *testing.T, h map[string]string) {
	t.Helper()
	raw, err := hex.DecodeString(h["nonce"])
	if err != nil || len(raw) != protocol.NonceSize {
		t.Fatalf("bad nonce %q", h["nonce"])
	}
	var nonce [protocol.NonceSize]byte
	copy(nonce[:], raw)
	sampling := protocol.Sampling{Count: int(num(t, h["sample_count"])), Length: int(num(t, h["sample_length"]))}
	ranges, err := protocol.DeriveRanges(&nonce, len(b64(t, h["entropy"])), sampling, nil)
	if err != nil {
		t.Fatal(err)
	}
	parts := make([]string, len(ranges))
	for i, r := range ranges {
		parts[i] = strconv.Itoa(int(r.Offset)) + ":" + strconv.Itoa(int(r.Length))
	}
	if got := strings.Join(parts, ","); got != h["ranges"] {
		t.Fatalf("derived ranges %s, vector says %s", got, h["ranges"])
	}
}

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func num(t *testing.T, s string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("bad number %q", s)
	}
	return n
}
