package protocol

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Limits on sampling and entropy that every implementation shares.
const (
	MinEntropySize = 4 << 10   // 4 KiB
	MaxEntropySize = 256 << 10 // 256 KiB: one client fits in one storage entry
	MaxRangeCount  = 512
	MaxRangeLength = 4096
	// MinSampledBytes keeps the sampled secret at 256 bits or more.
	MinSampledBytes = 32
	// MaxChallengeSize bounds the challenge field (empty unless the role
	// asks for challenge mode).
	MaxChallengeSize = 256
)

// Sampling is how much of the entropy one proof reveals to the hash: Count
// ranges of Length bytes each. The role sets it; the server enforces it.
type Sampling struct {
	Count  int
	Length int
}

// Validate checks the sampling parameters against an entropy size.
func (s Sampling) Validate(entropySize int) error {
	switch {
	case entropySize < MinEntropySize || entropySize > MaxEntropySize:
		return fmt.Errorf("entropy size must be between %d and %d bytes", MinEntropySize, MaxEntropySize)
	case s.Count < 1 || s.Count > MaxRangeCount:
		return fmt.Errorf("sample count must be between 1 and %d", MaxRangeCount)
	case s.Length < 1 || s.Length > MaxRangeLength:
		return fmt.Errorf("sample length must be between 1 and %d", MaxRangeLength)
	case s.Count*s.Length < MinSampledBytes:
		return fmt.Errorf("sample count times sample length must be at least %d bytes", MinSampledBytes)
	case s.Count*s.Length > entropySize:
		return fmt.Errorf("sample count times sample length must not exceed the entropy size (%d bytes)", entropySize)
	}
	return nil
}

// Range is one sampled section of the entropy: Length bytes from Offset.
type Range struct {
	Offset uint32
	Length uint32
}

// DeriveRanges computes the ranges a proof with this nonce must sample:
//
//	seed     = HMAC-SHA256(key=nonce, lp8(labelRanges) || u32(entropy_size) ||
//	                       u32(length) || u32(count) || lp16(challenge))
//	stream   = AES-256-CTR(key=seed, counter block 0 = 16 zero bytes), 8 × count bytes
//	offset_i = u64(stream[8i : 8i+8]) mod (entropy_size - length + 1)
//
// The nonce keys the PRF, so a client cannot pick which parts of the entropy
// it proves; with challenge mode the server's challenge enters it too. One
// HMAC and a few AES blocks make hundreds of ranges, so a role can sample
// enough ranges to make partial theft useless (docs/protocol.md §11.3) at
// almost no cost. The modulo bias is below 2^-44 for every allowed size.
func DeriveRanges(nonce *[NonceSize]byte, entropySize int, s Sampling, challenge []byte) ([]Range, error) {
	if err := s.Validate(entropySize); err != nil {
		return nil, err
	}
	if len(challenge) > MaxChallengeSize {
		return nil, fmt.Errorf("challenge longer than %d bytes", MaxChallengeSize)
	}
	msg := lp8(labelRanges)
	msg = binary.BigEndian.AppendUint32(msg, uint32(entropySize))
	msg = binary.BigEndian.AppendUint32(msg, uint32(s.Length))
	msg = binary.BigEndian.AppendUint32(msg, uint32(s.Count))
	msg = appendLP16(msg, challenge)
	mac := hmac.New(sha256.New, nonce[:])
	mac.Write(msg)
	block, err := aes.NewCipher(mac.Sum(nil))
	if err != nil {
		return nil, err
	}
	stream := make([]byte, 8*s.Count)
	cipher.NewCTR(block, make([]byte, aes.BlockSize)).XORKeyStream(stream, stream)

	span := uint64(entropySize - s.Length + 1)
	ranges := make([]Range, s.Count)
	for i := range ranges {
		r := binary.BigEndian.Uint64(stream[8*i:])
		ranges[i] = Range{Offset: uint32(r % span), Length: uint32(s.Length)}
	}
	return ranges, nil
}

// sample concatenates the bytes of every range. The caller has checked that
// every range lies inside entropy.
func sample(entropy []byte, ranges []Range) []byte {
	var n int
	for _, r := range ranges {
		n += int(r.Length)
	}
	out := make([]byte, 0, n)
	for _, r := range ranges {
		out = append(out, entropy[r.Offset:r.Offset+r.Length]...)
	}
	return out
}
