package protocol

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"strings"
)

// All integers are big-endian. Variable-length fields carry a length prefix
// (one byte for names and labels, two for longer fields), so no two distinct
// transcripts can encode to the same bytes.

func lp8(s string) []byte { return append([]byte{byte(len(s))}, s...) }

func appendLP8(b []byte, s string) []byte { return append(append(b, byte(len(s))), s...) }

func appendLP16(b, v []byte) []byte {
	return append(binary.BigEndian.AppendUint16(b, uint16(len(v))), v...)
}

// proofEncoding is unpadded base64url in strict mode: non-zero trailing bits
// are an error, so every proof has exactly one encoding.
var proofEncoding = base64.RawURLEncoding.Strict()

// decodeCanonical decodes unpadded base64url and refuses any other form.
// The standard decoder skips CR and LF; a proof with them is not canonical.
func decodeCanonical(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n=") {
		return nil, errors.New("not canonical unpadded base64url")
	}
	b, err := proofEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("not canonical unpadded base64url")
	}
	return b, nil
}

// Base64 is a byte string that JSON carries as a string of standard base64
// (RFC 4648 §4) with padding, the encoding of every key and entropy in the
// HTTP API, the enrollment bundle, the client state and receipts
// (docs/protocol.md §2.1). It decodes strictly: padding required, the unused
// bits of the last character zero, no CR or LF (which Go's decoder would
// otherwise skip), so that a value has one text. It encodes as
// encoding/json encodes any []byte.
type Base64 []byte

// UnmarshalJSON decodes a JSON string of canonical padded standard base64;
// null leaves b unchanged, as encoding/json does for a []byte.
func (b *Base64) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return errors.New("want a base64 string")
	}
	v, err := DecodeBase64(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// DecodeBase64 decodes canonical padded standard base64 (see Base64).
func DecodeBase64(s string) ([]byte, error) {
	if strings.ContainsAny(s, "\r\n") {
		return nil, errors.New("not canonical padded base64")
	}
	v, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil {
		return nil, errors.New("not canonical padded base64")
	}
	return v, nil
}

// reader consumes a byte slice front to back; the first short read sets
// failed, and every later read returns zero values.
type reader struct {
	b      []byte
	failed bool
}

func (r *reader) take(n int) []byte {
	if r.failed || n < 0 || len(r.b) < n {
		r.failed = true
		return nil
	}
	v := r.b[:n:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) u8() uint8 {
	if v := r.take(1); v != nil {
		return v[0]
	}
	return 0
}

func (r *reader) u16() uint16 {
	if v := r.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}

func (r *reader) u32() uint32 {
	if v := r.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}

func (r *reader) u64() uint64 {
	if v := r.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

func (r *reader) lp8() []byte  { return r.take(int(r.u8())) }
func (r *reader) lp16() []byte { return r.take(int(r.u16())) }
