package protocol

import (
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
