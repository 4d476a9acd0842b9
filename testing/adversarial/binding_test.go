package adversarial

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// proofAs builds, with protocol.NewProof, a proof from rc's material whose
// header names role and clientID, issued at `at`, of generation gen (0:
// the client's own).
func proofAs(t testing.TB, e *env, rc, role, clientID string, at time.Time, gen uint64) string {
	t.Helper()
	st := e.loadState(t, rc)
	pk, err := st.ServerKeys[0].Parse()
	if err != nil {
		t.Fatal(err)
	}
	if gen == 0 {
		gen = st.Generation
	}
	proof, _, err := protocol.NewProof(protocol.ProofInput{
		ServerKey: pk, Role: role, ClientID: clientID, Generation: gen, Entropy: st.Entropy,
		Sampling: protocol.Sampling{Count: st.SampleCount, Length: st.SampleLength}, IssuedAt: at,
	})
	if err != nil {
		t.Fatal(err)
	}
	return proof
}

// accept sends a fresh proof of rc and asserts it is accepted; it returns
// the proof, for replays.
func accept(t testing.TB, e *env, rc, role, clientID string) string {
	t.Helper()
	// Right after a start the server refuses proofs issued before its
	// replay window opened, naming it; honest clients make a new proof.
	for deadline := time.Now().Add(2 * windowDelay); ; time.Sleep(500 * time.Millisecond) {
		proof := freshProof(t, e, rc)
		r := e.login(t, role, clientID, proof)
		if r.status == http.StatusOK && r.token != "" {
			return proof
		}
		if r.status != http.StatusBadRequest || !strings.Contains(strings.Join(r.errors, " "), "make a new proof") || time.Now().After(deadline) {
			t.Fatalf("a fresh proof of %s was not accepted: status %d %q", rc, r.status, r.errors)
		}
	}
}

// forged sends a hand-built proof of web/alice changed by f.
func forged(f func(*forgery)) func(t *testing.T, e *env) response {
	return func(t *testing.T, e *env) response {
		fg := newForgery(t, e.loadState(t, "web/alice"))
		f(fg)
		return e.login(t, "web", "alice", fg.encode(t))
	}
}

// bindingAttacks: proofs that open under the server key but are bound to
// something else, or claim what the client does not hold. accepted is a
// proof of web/alice the server has accepted.
func bindingAttacks(accepted string) []attack {
	at := func(d time.Duration) func(t *testing.T, e *env) response {
		return func(t *testing.T, e *env) response {
			return e.login(t, "web", "alice", proofAs(t, e, "web/alice", "web", "alice", time.Now().Add(d), 0))
		}
	}
	u16 := func(v uint16) *uint16 { return &v }
	return []attack{
		{name: "replay of an accepted proof", class: cReplay, want: denied, send: func(t *testing.T, e *env) response {
			return e.login(t, "web", "alice", accepted)
		}},
		{name: "replay of an accepted proof as bob", class: cHeader, victim: "web/bob", want: denied, send: func(t *testing.T, e *env) response {
			return e.login(t, "web", "bob", accepted)
		}},
		// Proofs moved: the header names alice of web, the request another.
		{name: "alice's proof with client_id bob", class: cHeader, victim: "web/bob", want: denied, send: func(t *testing.T, e *env) response {
			return e.login(t, "web", "bob", freshProof(t, e, "web/alice"))
		}},
		{name: "alice's proof at role db as carol", class: cHeader, victim: "db/carol", want: denied, send: func(t *testing.T, e *env) response {
			return e.login(t, "db", "carol", freshProof(t, e, "web/alice"))
		}},
		{name: "alice's proof at role db as alice", class: cHeader, want: denied, send: func(t *testing.T, e *env) response {
			return e.login(t, "db", "alice", freshProof(t, e, "web/alice"))
		}},
		// Sealed for names that exist nowhere: nothing is written (§15).
		{name: "alice's material for an unknown client", class: cUnknownClient, want: denied, send: func(t *testing.T, e *env) response {
			return e.login(t, "web", "nobody", proofAs(t, e, "web/alice", "web", "nobody", time.Now(), 0))
		}},
		{name: "alice's material for an unknown role", class: cUnknownClient, want: denied, send: func(t *testing.T, e *env) response {
			return e.login(t, "nosuchrole", "alice", proofAs(t, e, "web/alice", "nosuchrole", "alice", time.Now(), 0))
		}},
		// Sealed for carol with alice's material: it opens and names a real
		// client, and fails the digest: a guess of carol's entropy, counted
		// against its source (§15).
		{name: "alice's material sealed as db/carol", class: cDigest, victim: "db/carol", counts: true, want: denied, send: func(t *testing.T, e *env) response {
			return e.login(t, "db", "carol", proofAs(t, e, "web/alice", "db", "carol", time.Now(), 0))
		}},
		// Generations the client never had (§8.1 step 12): not counted, they
		// test no entropy.
		{name: "generation 99 never existed", class: cGeneration, want: denied, send: func(t *testing.T, e *env) response {
			return e.login(t, "web", "alice", proofAs(t, e, "web/alice", "web", "alice", time.Now(), 99))
		}},
		{name: "generation 0 never exists", class: cGeneration, want: denied, send: forged(func(f *forgery) { f.generation = 0 })},
		// Ranges a version 1 proof carries (§8.1 step 14): not counted,
		// they test no entropy (the server compares them before reading
		// any).
		{name: "version 1: ranges chosen by the caller, digest right", class: cRanges, want: denied, send: forgedV1(func(f *forgery) {
			f.ranges = make([]protocol.Range, f.st.SampleCount)
			for i := range f.ranges {
				f.ranges[i] = protocol.Range{Offset: 0, Length: uint32(f.st.SampleLength)}
			}
		})},
		{name: "version 1: ranges derived from another nonce", class: cRanges, want: denied, send: forgedV1(func(f *forgery) { f.ranges = otherNonceRanges(f) })},
		{name: "version 1: one range off by one", class: cRanges, want: denied, send: forgedV1(func(f *forgery) {
			f.ranges = derived(f)
			f.ranges[3].Offset ^= 1
		})},
		{name: "version 1: range past the end of the entropy", class: cRanges, want: denied, send: forgedV1(func(f *forgery) {
			f.ranges = derived(f)
			f.ranges[0].Offset = uint32(len(f.st.Entropy))
		})},
		{name: "version 1: range at offset 2^32-16", class: cRanges, want: denied, send: forgedV1(func(f *forgery) {
			f.ranges = derived(f)
			f.ranges[0].Offset = 1<<32 - 16
		})},
		{name: "version 1: range twice as long", class: cRanges, want: denied, send: forgedV1(func(f *forgery) {
			f.ranges = derived(f)
			f.ranges[0].Length *= 2
		})},
		{name: "version 1: one range more", class: cRanges, want: denied, send: forgedV1(func(f *forgery) {
			f.ranges = append(derived(f), protocol.Range{Offset: 0, Length: uint32(f.st.SampleLength)})
		})},
		{name: "version 1: one range fewer", class: cRanges, want: denied, send: forgedV1(func(f *forgery) { f.ranges = derived(f)[1:] })},
		// Version 2 carries no ranges: the caller cannot name them at all.
		// Hashing other ranges than the derived ones is a wrong digest, a
		// guess like any other, and counts (§15).
		{name: "version 2: ranges chosen by the caller, hashed", class: cDigest, counts: true, want: denied, send: forged(func(f *forgery) {
			f.ranges = make([]protocol.Range, f.st.SampleCount)
			for i := range f.ranges {
				f.ranges[i] = protocol.Range{Offset: 0, Length: uint32(f.st.SampleLength)}
			}
		})},
		{name: "version 2: ranges of another nonce, hashed", class: cDigest, counts: true, want: denied, send: forged(func(f *forgery) { f.ranges = otherNonceRanges(f) })},
		{name: "digest zero", class: cDigest, counts: true, want: denied, send: forged(func(f *forgery) { f.badDigest = true })},
		// Payloads that open but do not parse (§8.1 step 7): not counted.
		{name: "version 1: range count 0", class: cMalformed, want: denied, send: forgedV1(func(f *forgery) { f.ranges, f.count = []protocol.Range{}, u16(0) })},
		{name: "version 1: range count past MaxRangeCount", class: cMalformed, want: denied, send: forgedV1(func(f *forgery) {
			f.ranges = make([]protocol.Range, protocol.MaxRangeCount+1)
			f.count = u16(protocol.MaxRangeCount + 1)
		})},
		{name: "version 1: count says one range more than present", class: cMalformed, want: denied, send: forgedV1(func(f *forgery) {
			f.count = u16(uint16(f.st.SampleCount + 1))
		})},
		{name: "version 2 header, version 1 payload (ranges included)", class: cMalformed, want: denied, send: forged(func(f *forgery) { f.rangesInV2 = true })},
		{name: "a byte after the digest", class: cMalformed, want: denied, send: forged(func(f *forgery) { f.trailing = []byte{0} })},
		{name: "issued_at 2^63", class: cMalformed, want: denied, send: forged(func(f *forgery) { f.issuedAtRaw = 1 << 63 })},
		// Clock skew (§8.1 step 10; allowed_clock_skew is 10 s here, and
		// proofs more than 5 s ahead are refused whatever it says): not
		// counted.
		{name: "issued 12 s ago (past the 10 s skew)", class: cTooOld, want: denied, send: at(-12 * time.Second)},
		{name: "issued 2 minutes ago", class: cTooOld, want: denied, send: at(-2 * time.Minute)},
		{name: "issued a day ago", class: cTooOld, want: denied, send: at(-24 * time.Hour)},
		{name: "issued at 1970", class: cTooOld, want: denied, send: forged(func(f *forgery) { f.issuedAt = time.Unix(1, 0) })},
		{name: "issued 8 s ahead (within the skew, past the 5 s future limit)", class: cFromFuture, want: denied, send: at(8 * time.Second)},
		{name: "issued 2 minutes ahead", class: cFromFuture, want: denied, send: at(2 * time.Minute)},
		{name: "issued in the year 9999", class: cFromFuture, want: denied, send: forged(func(f *forgery) { f.issuedAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) })},
	}
}

// forgedV1 is forged with a version 1 proof, whose payload carries the
// ranges.
func forgedV1(edit func(*forgery)) func(t *testing.T, e *env) response {
	return forged(func(f *forgery) { f.version = 1; edit(f) })
}

func otherNonceRanges(f *forgery) []protocol.Range {
	other := f.nonce
	other[0] ^= 1
	r, err := protocol.DeriveRanges((*[32]byte)(&other), len(f.st.Entropy),
		protocol.Sampling{Count: f.st.SampleCount, Length: f.st.SampleLength}, nil)
	if err != nil {
		panic(err)
	}
	return r
}

func derived(f *forgery) []protocol.Range {
	r, err := protocol.DeriveRanges((*[32]byte)(&f.nonce), len(f.st.Entropy),
		protocol.Sampling{Count: f.st.SampleCount, Length: f.st.SampleLength}, nil)
	if err != nil {
		panic(err)
	}
	return r
}

// controls are proofs that must be accepted: the forgery helper follows
// the spec (so a refusal of a forgery is due to the one field a row
// changes), and the clock limits are where the docs put them. They wait,
// if need be, until every proof they send is issued after the server's
// replay window opened.
func controls(t *testing.T, e *env) {
	time.Sleep(time.Until(e.ready.Add(windowDelay + skew)))
	for _, c := range []struct {
		name  string
		proof func() string
	}{
		{"hand-built forgery with nothing changed", func() string {
			return newForgery(t, e.loadState(t, "web/alice")).encode(t)
		}},
		{"hand-built version 1 forgery with nothing changed", func() string {
			f := newForgery(t, e.loadState(t, "web/alice"))
			f.version = 1
			return f.encode(t)
		}},
		{"issued 8 s ago (within the 10 s skew)", func() string {
			return proofAs(t, e, "web/alice", "web", "alice", time.Now().Add(-8*time.Second), 0)
		}},
		{"issued 3 s ahead", func() string { return proofAs(t, e, "web/alice", "web", "alice", time.Now().Add(3*time.Second), 0) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.login(t, "web", "alice", c.proof())
			if r.status != http.StatusOK || r.token == "" {
				t.Fatalf("not accepted: status %d %q", r.status, r.errors)
			}
		})
	}
}
