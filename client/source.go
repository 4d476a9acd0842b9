package client

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
)

// Where a state comes from. A writable state file (WithStateFile, the
// default) is the state's home: each login takes its lock, proves the
// pending generation when there is one, and saves what the receipt brings
// before the token is returned; a save that fails is a fault, and the
// token is discarded.
//
// A read-only state is an explicit choice, never a fallback: a file the
// process cannot write (WithReadOnlyStateFile: baked into a deployment
// package, mounted from a secret), an environment variable
// (WithStateFromEnv: a CI secret) or a reader (WithStateReader: stdin).
// Such a client proves its current generation and nothing else, checks
// the receipt as a writable client does, and keeps nothing it brings: a
// pending generation handed out in the receipt, new server keys, the
// role's challenge mode. It says so once for each through its logger
// (WithLogger), and returns the token. Every login starts again from the
// source: nothing learned by one login is used by the next, so a
// generation it could not persist is never proven. Its copies are
// rotated by whoever made them (a deploy pipeline, docs/ci-and-serverless.md).
//
// A read-only state takes no lock. The lock serialises the
// read-modify-write of a login (see lock.go); a read-only client writes
// nothing, and what it proves, its current generation, any number of
// copies may prove at once. A read-only file is read as the writable one
// is read, with the same checks (mode, owner, directory): it is replaced,
// if ever, by a rename, so a reader sees the old state or the new one.
// Do not point a read-only client at a state file a writable client also
// uses: once the writable one proves a pending generation, the current
// generation the read-only one proves is superseded, which Vault takes for
// a clone.

// StateEnv is the environment variable a CI job or a function's
// configuration conventionally holds its encoded state in (EncodeState),
// read only when asked for (WithStateFromEnv, the CLI's -state-env).
const StateEnv = "VAULT_ENTROPY_STATE"

// StateFileEnv names the environment variable that holds the state file's
// path, the default of WithStateFile (see DefaultStatePath).
const StateFileEnv = "VAULT_ENTROPY_STATE_FILE"

// ErrReadOnlyState: an operation that writes the state (FetchKeys' caller
// storing keys, Save through the auth method) on a read-only source.
var ErrReadOnlyState = errors.New("the client state is read-only")

// WithReadOnlyStateFile reads the state from a file that is never written
// nor locked: see the comment at the top of source.go. The file is read at
// each login, with the checks of LoadState.
func WithReadOnlyStateFile(path string) Option {
	return func(a *EntropyAuth) {
		a.statePath, a.readOnly, a.fixed, a.source, a.sourceErr = path, true, nil, path, nil
	}
}

// WithStateFromEnv reads the state, once, from the environment variable
// name (StateEnv by convention), in the encoded form of EncodeState or as
// the state file's JSON (see DecodeState). The state is read-only: see the
// comment at the top of source.go. An unset or empty variable, or one that
// does not decode, makes NewEntropyAuth fail.
func WithStateFromEnv(name string) Option {
	return func(a *EntropyAuth) {
		a.statePath, a.readOnly, a.source = "", true, "$"+name
		v, ok := os.LookupEnv(name)
		switch {
		case !ok:
			a.fixed, a.sourceErr = nil, fmt.Errorf("%w: the environment variable %s is not set", ErrNoState, name)
		case v == "":
			a.fixed, a.sourceErr = nil, fmt.Errorf("%w: the environment variable %s is empty", ErrNoState, name)
		default:
			a.fixed, a.sourceErr = decodeFrom("$"+name, []byte(v))
		}
	}
}

// WithStateReader reads the state, once and at once, from r (stdin, say),
// as DecodeState reads it. The state is read-only: see the comment at the
// top of source.go. describe names the source in messages ("stdin").
func WithStateReader(r io.Reader, describe string) Option {
	return func(a *EntropyAuth) {
		a.statePath, a.readOnly, a.source = "", true, describe
		b, err := io.ReadAll(io.LimitReader(r, maxEncodedState+1))
		if err != nil {
			a.fixed, a.sourceErr = nil, fmt.Errorf("reading the state from %s: %w", describe, err)
			return
		}
		a.fixed, a.sourceErr = decodeFrom(describe, b)
	}
}

func decodeFrom(source string, text []byte) (*State, error) {
	s, err := DecodeState(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	return s, nil
}

// WithLogger sets where the auth method reports what it does not act on:
// today, what a read-only state cannot keep, at level Warn, once each.
// The default is slog.Default() (stderr, unless the program has set it).
// A log/slog logger keeps the library free of a logging dependency; any
// logger can sit behind a slog.Handler.
func WithLogger(l *slog.Logger) Option { return func(a *EntropyAuth) { a.logger = l } }

// ReadOnly reports whether the state is read-only (WithReadOnlyStateFile,
// WithStateFromEnv, WithStateReader).
func (a *EntropyAuth) ReadOnly() bool { return a.readOnly }

// StateSource names where the state comes from: a file's path, "$NAME"
// for an environment variable, or the reader's description.
func (a *EntropyAuth) StateSource() string { return a.source }

// ReadState returns the state as its source holds it now: the file read
// again, or a copy of the state read from the environment or the reader.
// It takes no lock (see LoadState).
func (a *EntropyAuth) ReadState() (*State, error) {
	if a.fixed != nil {
		s := *a.fixed
		return &s, nil
	}
	return LoadState(a.statePath)
}

// readOnlyNote is one kind of thing a read-only state cannot keep; each is
// reported once per auth method.
type readOnlyNote int

const (
	noteStoredPending readOnlyNote = iota
	noteRotation
	noteServerKeys
	noteChallengeMode
)

// notes records which read-only notes were reported.
type notes struct {
	mu   sync.Mutex
	done map[readOnlyNote]bool
}

// note reports msg through the logger, the first time only for kind.
func (a *EntropyAuth) note(kind readOnlyNote, format string, args ...any) {
	a.notes.mu.Lock()
	defer a.notes.mu.Unlock()
	if a.notes.done[kind] {
		return
	}
	if a.notes.done == nil {
		a.notes.done = map[readOnlyNote]bool{}
	}
	a.notes.done[kind] = true
	a.logger.Warn(fmt.Sprintf("read-only state %s: ", a.source) + fmt.Sprintf(format, args...))
}

// readOnlyView is the state a read-only login proves from: s without a
// pending generation, which it did not persist (or which whoever wrote the
// file may have proven since, making the current generation the one Vault
// still holds until a copy that can write proves the pending one).
func (a *EntropyAuth) readOnlyView(s *State) *State {
	v := *s
	if p := s.Pending; p != nil {
		a.note(noteStoredPending, "it holds pending generation %d, which a read-only client does not prove; it proves generation %d", p.Generation, s.Generation)
		v.Pending = nil
	}
	return &v
}

// noteIgnored reports what a read-only login's receipt brought that the
// state keeps no record of: next is the state it would have led to, from
// proven.
func (a *EntropyAuth) noteIgnored(proven, next *State) {
	if p := next.Pending; p != nil {
		a.note(noteRotation, "Vault handed out generation %d, which cannot be stored here; this client keeps proving generation %d, "+
			"which Vault accepts until a copy proves the new one. Rotate the state at deploy time (docs/ci-and-serverless.md)", p.Generation, proven.Generation)
	}
	if !sameKeys(next.ServerKeys, proven.ServerKeys) {
		a.note(noteServerKeys, "Vault's public keys changed (%d keys now); the state keeps its %d, so once Vault no longer accepts the one it seals to, "+
			"every login fetches the keys and tries twice. Re-issue the state to take them up", len(next.ServerKeys), len(proven.ServerKeys))
	}
	if next.ChallengeRequired && !proven.ChallengeRequired {
		a.noteChallengeMode()
	}
}

// noteChallengeMode reports, once, that the role requires challenge mode
// and the read-only state does not say so.
func (a *EntropyAuth) noteChallengeMode() {
	a.note(noteChallengeMode, "the role requires challenge mode and the state does not say so, so every login is refused once and "+
		"retried in challenge mode. Re-issue the state to take it up")
}
