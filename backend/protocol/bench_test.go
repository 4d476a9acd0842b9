package protocol

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkNewProof is the client's cost of one proof, per suite.
func BenchmarkNewProof(b *testing.B) {
	entropy := testEntropy(b, 64<<10)
	for _, s := range Suites() {
		b.Run(s.String(), func(b *testing.B) {
			in := testInput(b, s, entropy)
			for b.Loop() {
				if _, _, err := NewProof(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkVerify is the server's cost of checking one proof (parse, open,
// time, ranges, digest), per suite, without storage.
func BenchmarkVerify(b *testing.B) {
	entropy := testEntropy(b, 64<<10)
	for _, s := range Suites() {
		b.Run(s.String(), func(b *testing.B) {
			proof, _, err := NewProof(testInput(b, s, entropy))
			if err != nil {
				b.Fatal(err)
			}
			sk := serverKey(b, s)
			for b.Loop() {
				if _, err := verify(proof, sk, "web", "client-1", entropy, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDeriveRanges is the range derivation of one proof on each side,
// at the default sampling (320 ranges of 8 bytes) and the largest (512),
// and what a receipt's entropy key costs (one SHA-256 over 64 KiB).
func BenchmarkDeriveRanges(b *testing.B) {
	var nonce [NonceSize]byte
	for _, n := range []int{32, 320, MaxRangeCount} {
		b.Run("count="+strconv.Itoa(n), func(b *testing.B) {
			for b.Loop() {
				if _, err := DeriveRanges(&nonce, 64<<10, Sampling{Count: n, Length: 8}, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("entropy-key", func(b *testing.B) {
		entropy := testEntropy(b, 64<<10)
		for b.Loop() {
			entropyKey(entropy)
		}
	})
}
