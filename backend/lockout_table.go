package backend

import (
	"sync"
	"time"
)

const (
	// maxLockoutSources bounds the (role, client, source) counters held at
	// once, across all clients. A full table, at worst one source for each
	// of 65,536 clients, takes 32 MiB of heap, 47 MiB with 128-character
	// role and client names (measured with Go 1.26). A source is only
	// tracked after a failed digest comparison of an existing client.
	maxLockoutSources = 65536
	// underAttackFactor: more than this many times lockout_threshold failed
	// proofs for one client within a window, from all sources together,
	// raise one ERROR for that window. The client is not locked.
	underAttackFactor = 10
	// lockoutSweepInterval: a full table looks for expired counters at most
	// this often, so that failures against a full table do not scan it
	// every time.
	lockoutSweepInterval = time.Second
	// lockoutFullLogInterval: how often a full table is reported.
	lockoutFullLogInterval = time.Minute
)

// lockoutPolicy is a role's lockout settings, as a count uses them.
type lockoutPolicy struct {
	threshold    int
	counterReset time.Duration
	duration     time.Duration
}

// sourceCount is the failed proofs of one source for one client.
type sourceCount struct {
	failures int
	// windowEnd is when the count starts again, unless the source is locked.
	windowEnd time.Time
	// lockedUntil is zero unless the source reached the threshold.
	lockedUntil time.Time
}

// expiry is when the count is forgotten: the end of its lock, or of its
// window.
func (s *sourceCount) expiry() time.Time {
	if !s.lockedUntil.IsZero() {
		return s.lockedUntil
	}
	return s.windowEnd
}

func (s *sourceCount) isLocked(now time.Time) bool {
	return !s.lockedUntil.IsZero() && now.Before(s.lockedUntil)
}

// clientCounts is one client's sources, and its failures from all of them
// for the online-attack alarm.
type clientCounts struct {
	sources   map[string]*sourceCount
	failures  int
	windowEnd time.Time
	alarmed   bool
}

type clientKey struct{ role, clientID string }

// lockoutTable counts failed proofs per (role, client, source) in memory,
// on the node that verifies logins (the active node: standbys forward
// them). Nothing is stored, so a restart or a change of leader forgets
// every count and lifts every source's lock.
//
// It holds at most max source counters. When it is full, expired counters
// are dropped; if it is still full, a failure from a source with no counter
// is not counted (and the table's fullness is logged at ERROR): counters
// already held are never evicted, so every tracked source keeps its bound,
// and an honest client, which fails no digest, is never refused because the
// table is full.
type lockoutTable struct {
	mu      sync.Mutex
	max     int
	size    int // source counters held
	clients map[clientKey]*clientCounts

	lastSweep   time.Time
	lastFullLog time.Time
}

func newLockoutTable(max int) *lockoutTable {
	return &lockoutTable{max: max, clients: map[clientKey]*clientCounts{}}
}

// locked reports whether source is locked out of the client at now.
func (t *lockoutTable) locked(role, clientID, source string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.clients[clientKey{role, clientID}]
	if c == nil {
		return false
	}
	s := c.sources[source]
	return s != nil && s.isLocked(now)
}

// failOutcome is what a counted failure did.
type failOutcome struct {
	source string
	// failures is the source's count in its window, after this failure.
	failures int
	// locked: this failure locked the source.
	locked bool
	// clientFailures and sources: the client's failures in its alarm
	// window and the sources it holds counters for.
	clientFailures int
	sources        int
	// underAttack: this failure crossed the alarm level, once per window.
	underAttack bool
	// full: the source could not be counted, and it is time to say so.
	full bool
}

// fail counts one failed proof of source for the client at now.
func (t *lockoutTable) fail(role, clientID, source string, now time.Time, p lockoutPolicy) failOutcome {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := failOutcome{source: source}
	key := clientKey{role, clientID}
	c := t.clients[key]
	if c == nil {
		if !t.nonLockedRoom(now) {
			out.full = t.nonLockedFullLogDue(now)
			return out
		}
		c = &clientCounts{sources: map[string]*sourceCount{}}
		t.clients[key] = c
	}
	if !now.Before(c.windowEnd) {
		c.failures, c.windowEnd, c.alarmed = 0, now.Add(p.counterReset), false
	}
	c.failures++
	out.clientFailures = c.failures
	if !c.alarmed && c.failures > underAttackFactor*p.threshold {
		c.alarmed, out.underAttack = true, true
	}

	s := c.sources[source]
	if s != nil && !now.Before(s.expiry()) {
		*s = sourceCount{} // its lock or window has run out: start again
	}
	if s == nil {
		if !t.nonLockedRoom(now) {
			out.full, out.sources = t.nonLockedFullLogDue(now), len(c.sources)
			return out
		}
		s = &sourceCount{}
		c.sources[source] = s
		t.clients[key] = c // the sweep may have dropped c, all of whose counters had expired
		t.size++
	}
	if s.failures == 0 {
		s.windowEnd = now.Add(p.counterReset)
	}
	s.failures++
	// Requests that passed the early check together may fail after the
	// source is locked: they add to the count, not to the lock.
	if !s.isLocked(now) && s.failures >= p.threshold {
		s.lockedUntil = now.Add(p.duration)
		out.locked = true
	}
	out.failures, out.sources = s.failures, len(c.sources)
	return out
}

// counts is the client's failures in the current windows of its sources
// and the number of sources locked out of it at now.
func (t *lockoutTable) counts(role, clientID string, now time.Time) (failures, lockedSources int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.clients[clientKey{role, clientID}]
	if c == nil {
		return 0, 0
	}
	for _, s := range c.sources {
		if !now.Before(s.expiry()) {
			continue
		}
		failures += s.failures
		if s.isLocked(now) {
			lockedSources++
		}
	}
	return failures, lockedSources
}

// clear forgets every count of the client: an operator's unlock, or the
// client's deletion.
func (t *lockoutTable) clear(role, clientID string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	key := clientKey{role, clientID}
	if c := t.clients[key]; c != nil {
		t.size -= len(c.sources)
		delete(t.clients, key)
	}
}

// nonLockedRoom reports whether one more source counter fits, dropping
// expired ones first when the table is full (at most once per
// lockoutSweepInterval). The caller holds t.mu.
func (t *lockoutTable) nonLockedRoom(now time.Time) bool {
	if t.size < t.max {
		return true
	}
	if now.Sub(t.lastSweep) < lockoutSweepInterval && !t.lastSweep.IsZero() {
		return false
	}
	t.lastSweep = now
	for key, c := range t.clients {
		for src, s := range c.sources {
			if !now.Before(s.expiry()) {
				delete(c.sources, src)
				t.size--
			}
		}
		if len(c.sources) == 0 {
			delete(t.clients, key)
		}
	}
	return t.size < t.max
}

// nonLockedFullLogDue reports whether a full table should be logged now.
// The caller holds t.mu.
func (t *lockoutTable) nonLockedFullLogDue(now time.Time) bool {
	if !t.lastFullLog.IsZero() && now.Sub(t.lastFullLog) < lockoutFullLogInterval {
		return false
	}
	t.lastFullLog = now
	return true
}
