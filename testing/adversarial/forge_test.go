package adversarial

import (
	"crypto/hpke"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// forgery is a proof built by hand from docs/protocol.md §4 to §7, for the
// attacks protocol.NewProof refuses to build: ranges the nonce did not
// derive, a wrong range count, a wrong digest, bytes after the payload, in
// either protocol version.
// Everything it does not override is what an honest client would send, so
// a forgery with no override must be accepted (TestAdversarial checks that
// first): a refusal is then due to the one field a case changes.
type forgery struct {
	st         *client.State
	issuedAt   time.Time
	generation uint64
	nonce      [32]byte
	// version is the proof's protocol version: 2 (protocol.Version), whose
	// payload leaves the ranges out, or 1, whose payload carries them.
	version uint8
	// ranges replaces the derived ranges when not nil: in version 1 those
	// the payload carries, in both those the digest is made over.
	ranges []protocol.Range
	// count replaces u16(n) of a version 1 payload when not nil (the
	// ranges stay as they are).
	count *uint16
	// rangesInV2 lays a version 2 payload out as version 1 would, with
	// u16(n) and the ranges before the digest.
	rangesInV2 bool
	// badDigest replaces the digest with zeros.
	badDigest bool
	// trailing is appended to the payload after the digest.
	trailing []byte
	// issuedAtRaw replaces u64(issued_at) when not zero.
	issuedAtRaw uint64
}

func newForgery(t testing.TB, st *client.State) *forgery {
	t.Helper()
	f := &forgery{st: st, issuedAt: time.Now(), generation: st.Generation, version: protocol.Version}
	if _, err := rand.Read(f.nonce[:]); err != nil {
		t.Fatal(err)
	}
	return f
}

// header is §4: u8(version) || u8(suite) || key_id || lp8(role) || lp8(client_id).
func header(version, suite byte, keyID []byte, role, clientID string) []byte {
	h := append([]byte{version, suite}, keyID...)
	h = append(append(h, byte(len(role))), role...)
	return append(append(h, byte(len(clientID))), clientID...)
}

// encode seals the forgery to the client's current server key (X-Wing)
// and returns the proof text.
func (f *forgery) encode(t testing.TB) string {
	t.Helper()
	key := f.st.ServerKeys[0]
	pk, err := key.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if pk.Suite() != protocol.SuiteXWing {
		t.Fatalf("the forgery helper seals to X-Wing keys only, not %s", pk.Suite())
	}
	id := pk.ID()
	hdr := header(f.version, byte(protocol.SuiteXWing), id[:], f.st.Role, f.st.ClientID)

	ranges := f.ranges
	if ranges == nil {
		if ranges, err = protocol.DeriveRanges((*[32]byte)(&f.nonce), len(f.st.Entropy),
			protocol.Sampling{Count: f.st.SampleCount, Length: f.st.SampleLength}, nil); err != nil {
			t.Fatal(err)
		}
	}
	count := uint16(len(ranges))
	if f.count != nil {
		count = *f.count
	}
	issued := uint64(f.issuedAt.Unix())
	if f.issuedAtRaw != 0 {
		issued = f.issuedAtRaw
	}
	// The transcript the digest covers, §6, after the header: the
	// payload's fields before the digest, with lp16(challenge) empty,
	// then u16(n) and the ranges, which a version 1 payload carries too.
	fields := binary.BigEndian.AppendUint64(nil, issued)
	fields = binary.BigEndian.AppendUint64(fields, f.generation)
	fields = append(fields, f.nonce[:]...)
	fields = append(fields, 0, 0) // lp16(empty challenge)
	rangesBytes := binary.BigEndian.AppendUint16(nil, count)
	for _, r := range ranges {
		rangesBytes = binary.BigEndian.AppendUint32(rangesBytes, r.Offset)
		rangesBytes = binary.BigEndian.AppendUint32(rangesBytes, r.Length)
	}
	var digest [32]byte
	if !f.badDigest {
		digest = f.digest(hdr, append(append([]byte(nil), fields...), rangesBytes...), ranges)
	}
	payload := fields
	if f.version == 1 || f.rangesInV2 {
		payload = append(payload, rangesBytes...)
	}
	payload = append(append(payload, digest[:]...), f.trailing...)

	// §7: info = lp8(label_proof) || header, aad = header.
	info := append([]byte{byte(len(labelProof))}, labelProof...)
	info = append(info, hdr...)
	hpk, err := hpke.MLKEM768X25519().NewPublicKey(pk.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	enc, sender, err := hpke.NewSender(hpk, hpke.HKDFSHA256(), hpke.AES256GCM(), info)
	if err != nil {
		t.Fatal(err)
	}
	ct, err := sender.Seal(hdr, payload)
	if err != nil {
		t.Fatal(err)
	}
	return encodeWire(append(append(hdr, enc...), ct...))
}

// digest is §6 over the entropy; a range outside it contributes the bytes
// that exist (the server compares ranges first and never gets here).
func (f *forgery) digest(hdr, body []byte, ranges []protocol.Range) [32]byte {
	h := sha256.New()
	h.Write([]byte{byte(len(labelDigest))})
	h.Write([]byte(labelDigest))
	h.Write(hdr)
	h.Write(body)
	n := uint64(len(f.st.Entropy))
	for _, r := range ranges {
		lo, hi := min(uint64(r.Offset), n), min(uint64(r.Offset)+uint64(r.Length), n)
		h.Write(f.st.Entropy[lo:hi])
	}
	return [32]byte(h.Sum(nil))
}

const (
	labelProof  = "vault-plugin-auth-entropy/v1/proof"
	labelDigest = "vault-plugin-auth-entropy/v1/digest"
)

// encodeWire is the canonical text of a proof (§2.1).
func encodeWire(wire []byte) string { return base64.RawURLEncoding.EncodeToString(wire) }

// decodeWire reads a canonical proof back.
func decodeWire(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.Strict().DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
