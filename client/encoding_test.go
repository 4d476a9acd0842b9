package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

// encodeHeader is an encoded state with the given header object and
// entropy, for building bad inputs.
func encodeHeader(t *testing.T, header map[string]any, entropy []byte) string {
	t.Helper()
	enc := base64.RawURLEncoding
	return encodedStatePrefix + enc.EncodeToString(mustJSON(t, header)) + "." + enc.EncodeToString(entropy)
}

// headerOf is the header object of an encoded state, to edit.
func headerOf(t *testing.T, e string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(strings.TrimPrefix(e, encodedStatePrefix), ".")
	b, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestEncodeStateRoundTrips(t *testing.T) {
	s := fuzzSeedState(t)
	s.ChallengeRequired = true
	e, err := EncodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(e, "ves1.") || strings.Trim(e, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != "" {
		t.Fatalf("not one token of the base64url alphabet: %.40q", e)
	}
	for _, text := range []string{e, e + "\n", "  " + e + "\r\n", string(mustJSON(t, s)), "\n" + string(mustJSON(t, s)) + "\n"} {
		got, err := DecodeState([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(mustJSON(t, got), mustJSON(t, s)) {
			t.Fatalf("decoded %v, want %v", got, s)
		}
	}
	// A pending generation is left out: a read-only client does not
	// prove it.
	s.Pending = &PendingGeneration{Generation: s.Generation + 1, Entropy: s.Entropy, SampleCount: s.SampleCount, SampleLength: s.SampleLength}
	withPending, err := EncodeState(s)
	if err != nil || withPending != e {
		t.Fatalf("a pending generation changed the encoding: %v", err)
	}
	if _, err := EncodeState(&State{}); err == nil {
		t.Fatal("encoded an invalid state")
	}
}

func TestDecodeStateRejectsBadInput(t *testing.T) {
	s := fuzzSeedState(t)
	good, err := EncodeState(s)
	if err != nil {
		t.Fatal(err)
	}
	head, entropyPart, _ := strings.Cut(strings.TrimPrefix(good, encodedStatePrefix), ".")
	edit := func(fn func(h map[string]any)) string {
		h := headerOf(t, good)
		fn(h)
		return encodeHeader(t, h, s.Entropy)
	}
	stateJSON := func(fn func(m map[string]any)) string {
		m := map[string]any{}
		if err := json.Unmarshal(mustJSON(t, s), &m); err != nil {
			t.Fatal(err)
		}
		fn(m)
		return string(mustJSON(t, m))
	}
	cases := []struct{ name, text string }{
		{"empty", ""},
		{"blank", " \n\t"},
		{"a path", "/var/lib/app/state.json"},
		{"another version", "ves2." + head + "." + entropyPart},
		{"a mangled prefix", "vesl." + head + "." + entropyPart},
		{"prefix alone", "ves1."},
		{"header alone", "ves1." + head},
		{"an empty entropy", "ves1." + head + "."},
		{"three parts", good + ".AAAA"},
		{"truncated entropy", good[:len(good)-8]},
		{"truncated in the header", good[:len(encodedStatePrefix)+len(head)/2]},
		{"entropy not base64url", "ves1." + head + "." + entropyPart[:10] + "+" + entropyPart[11:]},
		{"header not base64url", "ves1.!!" + head[2:] + "." + entropyPart},
		{"padded entropy", "ves1." + head + "." + base64.URLEncoding.EncodeToString(s.Entropy[:len(s.Entropy)-1])},
		{"standard base64", "ves1." + base64.StdEncoding.EncodeToString(mustJSON(t, headerOf(t, good))) + "." + base64.StdEncoding.EncodeToString(s.Entropy)},
		{"a space inside", "ves1." + head + ". " + entropyPart},
		{"header not JSON", "ves1." + base64.RawURLEncoding.EncodeToString([]byte("not json")) + "." + entropyPart},
		{"header with trailing data", "ves1." + base64.RawURLEncoding.EncodeToString(append(mustJSON(t, headerOf(t, good)), []byte("{}")...)) + "." + entropyPart},
		{"wrong state_version", edit(func(h map[string]any) { h["state_version"] = 2 })},
		{"unknown header field", edit(func(h map[string]any) { h["colour"] = "red" })},
		{"entropy in the header", edit(func(h map[string]any) { h["entropy"] = s.Entropy })},
		{"pending in the header", edit(func(h map[string]any) { h["pending"] = map[string]any{"generation": 2} })},
		{"entropy_size disagrees", edit(func(h map[string]any) { h["entropy_size"] = len(s.Entropy) + 1 })},
		{"entropy_size missing", edit(func(h map[string]any) { delete(h, "entropy_size") })},
		{"wrong type", edit(func(h map[string]any) { h["generation"] = "one" })},
		{"no server keys", edit(func(h map[string]any) { delete(h, "server_keys") })},
		{"generation zero", edit(func(h map[string]any) { h["generation"] = 0 })},
		{"JSON with an unknown field", stateJSON(func(m map[string]any) { m["extra"] = true })},
		{"JSON with a wrong state_version", stateJSON(func(m map[string]any) { m["state_version"] = 9 })},
		{"JSON with trailing data", stateJSON(func(map[string]any) {}) + "}"},
		{"JSON truncated", stateJSON(func(map[string]any) {})[:200]},
		{"JSON null", "null"},
		{"too long", good + strings.Repeat("A", maxEncodedState)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeState([]byte(tc.text))
			if !errors.Is(err, ErrEncodedState) || got != nil {
				t.Fatalf("DecodeState = %v, %v; want ErrEncodedState", got, err)
			}
			// Errors never quote the secret.
			if strings.Contains(err.Error(), entropyPart[:16]) || strings.Contains(err.Error(), head[:16]) {
				t.Fatalf("the error quotes the input: %v", err)
			}
		})
	}
}
