package protocol

import (
	"crypto/sha256"
	"encoding/binary"
)

// DigestSize is the length of a proof digest.
const DigestSize = sha256.Size

// computeDigest hashes the transcript of one proof:
//
//	digest = SHA-256(lp8(labelDigest) || header || u64(issued_at) ||
//	                 u64(generation) || nonce || lp16(challenge) ||
//	                 u16(count) || ranges || sampled)
//
// header is the encoded header (version, suite, key ID, role, client ID),
// ranges is every range as u32(offset) || u32(length), and sampled is the
// entropy bytes of every range, concatenated in order. The ranges are the
// derived ones, whether or not the payload carries them (version 1 does,
// version 2 does not): the transcript is the same in both versions.
func computeDigest(header []byte, p *payload, ranges []Range, entropy []byte) [DigestSize]byte {
	h := sha256.New()
	h.Write(lp8(labelDigest))
	h.Write(header)
	sampled := 0
	for _, r := range ranges {
		sampled += int(r.Length)
	}
	buf := make([]byte, 0, 8+8+NonceSize+2+len(p.challenge)+2+8*len(ranges)+sampled)
	buf = binary.BigEndian.AppendUint64(buf, p.issuedAt)
	buf = binary.BigEndian.AppendUint64(buf, p.generation)
	buf = append(buf, p.nonce[:]...)
	buf = appendLP16(buf, p.challenge)
	buf = appendRanges(buf, ranges)
	// The sampled bytes go into the same buffer, after the ranges: one
	// allocation and one Write for the whole transcript after the header.
	for _, r := range ranges {
		buf = append(buf, entropy[r.Offset:r.Offset+r.Length]...)
	}
	h.Write(buf)
	var d [DigestSize]byte
	h.Sum(d[:0])
	return d
}

func appendRanges(b []byte, ranges []Range) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(ranges)))
	for _, r := range ranges {
		b = binary.BigEndian.AppendUint32(b, r.Offset)
		b = binary.BigEndian.AppendUint32(b, r.Length)
	}
	return b
}
