package protocol

import (
	"errors"
	"strings"
)

// Every reason a verifier refuses a proof, in the order of the checks. A
// server logs the reason and tells the caller none of it. No error message
// here carries secret material.
var (
	ErrMalformed      = errors.New("proof is malformed")
	ErrVersion        = errors.New("proof has an unsupported version")
	ErrSuite          = errors.New("proof has an unsupported suite")
	ErrUnknownKey     = errors.New("proof is sealed to an unknown server key")
	ErrOpen           = errors.New("proof does not decrypt under the server key")
	ErrHeaderMismatch = errors.New("proof header does not match the request")
	ErrTooOld         = errors.New("proof is older than the allowed clock skew")
	ErrFromFuture     = errors.New("proof is issued further ahead of the server's clock than it allows")
	ErrGeneration     = errors.New("proof names an entropy generation the server does not hold")
	ErrChallenge      = errors.New("proof challenge is not the one the server expects")
	ErrChallengeStale = errors.New("proof challenge has expired")
	ErrSampling       = errors.New("the server's sampling parameters are not valid for the client's entropy")
	ErrRanges         = errors.New("proof ranges are not the ones derived from its nonce")
	ErrDigest         = errors.New("proof digest does not match the server's entropy")
	ErrReplay         = errors.New("proof nonce was accepted before")
)

// Refusals a server may name to the caller, because they reveal nothing
// about the client and tell an honest one what to do. Clients recognise
// them by their message.
var (
	// ErrKeyNotAccepted: the proof is sealed to a key the server no longer
	// accepts (retired past its grace period, or dropped); the client
	// should fetch the current keys and build a new proof.
	ErrKeyNotAccepted = errors.New("proof is sealed to a server key this server no longer accepts: fetch the current keys")
	// ErrChallengeRequired: the client's role requires challenge mode.
	// The server names it only after the proof has verified.
	ErrChallengeRequired = errors.New("the client's role requires challenge mode: fetch a challenge and build a new proof")
	// ErrProofPredatesWindow: the server cannot tell whether a proof this
	// old was accepted before it started (a restart or a leader change);
	// the client should build a new proof. The server names it only after
	// the proof has verified.
	ErrProofPredatesWindow = errors.New("proof was issued before this server's replay window opened: make a new proof")
)

// namedRefusals are the refusals above, the only ones a server names.
var namedRefusals = [...]error{ErrKeyNotAccepted, ErrChallengeRequired, ErrProofPredatesWindow}

// NamedRefusal returns the refusal a server names to the caller when err
// is one (errors.Is), or nil: every other refusal is told only "permission
// denied".
func NamedRefusal(err error) error {
	for _, named := range namedRefusals {
		if errors.Is(err, named) {
			return named
		}
	}
	return nil
}

// NamedRefusalIn returns the named refusal whose message a server's error
// text holds, or nil: how a client recognises one.
func NamedRefusalIn(text string) error {
	for _, named := range namedRefusals {
		if strings.Contains(text, named.Error()) {
			return named
		}
	}
	return nil
}
