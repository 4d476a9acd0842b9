package protocol

import (
	"errors"
	"fmt"
	"testing"
)

func TestNamedRefusal(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"key not accepted", ErrKeyNotAccepted, ErrKeyNotAccepted},
		{"wrapped key refusal", fmt.Errorf("%w (key abc)", ErrKeyNotAccepted), ErrKeyNotAccepted},
		{"challenge required", ErrChallengeRequired, ErrChallengeRequired},
		{"predates window", fmt.Errorf("x: %w", ErrProofPredatesWindow), ErrProofPredatesWindow},
		{"digest is never named", ErrDigest, nil},
		{"replay is never named", ErrReplay, nil},
		{"other error", errors.New("proof was issued before this server's replay window opened"), nil},
		{"nil", nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NamedRefusal(tc.err); got != tc.want {
				t.Fatalf("NamedRefusal(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}

func TestNamedRefusalIn(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       error
	}{
		{"Vault's 400 text", "1 error occurred:\n\t* " + ErrChallengeRequired.Error() + "\n\n", ErrChallengeRequired},
		{"key", ErrKeyNotAccepted.Error(), ErrKeyNotAccepted},
		{"window", "x; " + ErrProofPredatesWindow.Error(), ErrProofPredatesWindow},
		{"permission denied", "permission denied", nil},
		{"a prefix of a named refusal is not it", ErrKeyNotAccepted.Error()[:20], nil},
		{"empty", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := NamedRefusalIn(tc.text); got != tc.want {
				t.Fatalf("NamedRefusalIn(%q) = %v, want %v", tc.text, got, tc.want)
			}
		})
	}
}
