package backend

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func TestLockoutSource(t *testing.T) {
	for addr, want := range map[string]string{
		"192.0.2.1":                 "192.0.2.1",
		"192.0.2.1:8200":            "192.0.2.1",
		"::ffff:192.0.2.1":          "192.0.2.1",
		"2001:db8:1:2:3:4:5:6":      "2001:db8:1:2::/64",
		"2001:db8:1:2::ffff":        "2001:db8:1:2::/64",
		"[2001:db8:1:2::1]:443":     "2001:db8:1:2::/64",
		"fe80::1%eth0":              "fe80::/64",
		"":                          "unknown",
		"not an address":            "unknown",
		"2001:db8:1:3:3:4:5:6":      "2001:db8:1:3::/64",
		"127.0.0.2":                 "127.0.0.2",
		"0000:0000:0000:0000::0001": "::/64",
	} {
		if got := lockoutSource(addr); got != want {
			t.Errorf("lockoutSource(%q) = %q, want %q", addr, got, want)
		}
	}
}

// A lockout step: a login from an address (an honest one or one without
// the entropy), or an operator's action, and what it must get.
type lockoutStep struct {
	from string
	// bad: a proof without the entropy (fails the digest). Otherwise an
	// honest login.
	bad bool
	// forge, when set, changes the honest proof in a way that fails
	// another check than the digest (it must not count).
	forge func(c *rotatingClient)
	// times repeats the step.
	times int
	// advance moves the clock before the step.
	advance time.Duration
	// refused: an honest login must be refused.
	refused bool
	// unlock: the operator unlocks the client (and nothing else happens).
	unlock bool
}

func TestSourceLockout(t *testing.T) {
	const (
		attacker = "203.0.113.7"
		honest   = "198.51.100.1"
	)
	role := map[string]interface{}{"lockout_threshold": 3, "lockout_duration": "15m", "lockout_counter_reset": "5m", "rotation_period": "24h"}
	cases := []struct {
		name  string
		role  map[string]interface{}
		steps []lockoutStep
		// locks is how many source locks the log must show.
		locks int
	}{
		{name: "the threshold locks the source, no other", steps: []lockoutStep{
			{from: attacker, bad: true, times: 3},
			{from: attacker, refused: true},
			{from: honest},
			{from: "203.0.113.8"}, // the next address is another source
		}, locks: 1},
		{name: "a locked source is refused however often it tries", steps: []lockoutStep{
			{from: attacker, bad: true, times: 3},
			{from: attacker, bad: true, times: 50},
			{from: honest},
		}, locks: 1},
		{name: "an IPv6 /64 is one source", steps: []lockoutStep{
			{from: "2001:db8:1:2::1", bad: true},
			{from: "2001:db8:1:2::2", bad: true},
			{from: "2001:db8:1:2:ffff:ffff:ffff:ffff", bad: true},
			{from: "2001:db8:1:2::abcd", refused: true},
			{from: "2001:db8:1:3::1"},
			{from: "[2001:db8:1:3::1]:55555"},
		}, locks: 1},
		{name: "IPv4 addresses are separate sources", steps: []lockoutStep{
			{from: "192.0.2.1", bad: true, times: 2},
			{from: "192.0.2.2", bad: true, times: 2},
			{from: "192.0.2.1"},
			{from: "192.0.2.2"},
		}},
		{name: "the lock runs out after lockout_duration", steps: []lockoutStep{
			{from: attacker, bad: true, times: 3},
			{from: attacker, refused: true, advance: 14 * time.Minute},
			{from: attacker, advance: time.Minute},
			// A new window: two more failures do not lock.
			{from: attacker, bad: true, times: 2},
			{from: attacker},
		}, locks: 1},
		{name: "failures further apart than lockout_counter_reset do not add up", steps: []lockoutStep{
			{from: attacker, bad: true, times: 2},
			{from: attacker, bad: true, times: 2, advance: 5 * time.Minute},
			{from: attacker},
			{from: attacker, bad: true, advance: 4 * time.Minute},
			{from: attacker, refused: true},
		}, locks: 1},
		{name: "an accepted login does not clear a source's count", steps: []lockoutStep{
			{from: attacker, bad: true, times: 2},
			{from: attacker},
			{from: attacker, bad: true},
			{from: attacker, refused: true},
		}, locks: 1},
		{name: "only the digest counts", steps: []lockoutStep{
			{from: attacker, times: 5, refused: true, forge: func(c *rotatingClient) { c.generation = 7 }},                                                    // generation
			{from: attacker, times: 5, refused: true, forge: func(c *rotatingClient) { c.version, c.sampling = 1, protocol.Sampling{Count: 16, Length: 16} }}, // ranges (version 1)
			{from: attacker, times: 5, refused: true, forge: func(c *rotatingClient) { c.clock.advance(-time.Hour) }},                                         // too old
			{from: attacker},
		}},
		{name: "unlock lifts every source's lock", steps: []lockoutStep{
			{from: attacker, bad: true, times: 3},
			{from: "192.0.2.9", bad: true, times: 3},
			{unlock: true},
			{from: attacker},
			{from: "192.0.2.9"},
			{from: attacker, bad: true, times: 2},
			{from: attacker},
		}, locks: 2},
		{name: "lockout_threshold 0 counts nothing", role: map[string]interface{}{"lockout_threshold": 0}, steps: []lockoutStep{
			{from: attacker, bad: true, times: 20},
			{from: attacker},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := role
			if tc.role != nil {
				data = tc.role
			}
			b, s, c := setupRotation(t, data)
			c.from = honest
			// A token from before the attack, renewed at every step.
			resp := mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
			resp.Auth.TokenPolicies = resp.Auth.Policies // as Vault's core does
			for i, st := range tc.steps {
				c.clock.advance(st.advance)
				for range max(st.times, 1) {
					before := storageSnapshot(t, s)
					switch {
					case st.unlock:
						mustOK(t, b, s, logical.UpdateOperation, "role/web/client/agent-1/unlock", nil)
					case st.bad:
						bad := c.copy()
						bad.from = st.from
						bad.entropy = bytes.Repeat([]byte{1}, len(c.entropy))
						bad.mustBeRefused(t, b, s)
						if !equalSnapshots(before, storageSnapshot(t, s)) {
							t.Fatalf("step %d: a failed proof wrote to storage", i)
						}
					case st.forge != nil:
						forged := c.copy()
						clock := *c.clock
						forged.clock = &clock
						forged.from = st.from
						st.forge(forged)
						forged.mustBeRefused(t, b, s)
					case st.refused:
						h := c.copy()
						h.from = st.from
						h.mustBeRefused(t, b, s)
					default:
						c.from = st.from
						c.login(t, b, s)
					}
				}
				if !renew(t, b, s, resp.Auth) {
					t.Fatal("renewal refused")
				}
			}
			if n := strings.Count(c.logs.String(), "source locked out of the client after failed proofs"); n != tc.locks {
				t.Fatalf("the log shows %d source locks, want %d:\n%s", n, tc.locks, c.logs)
			}
			if strings.Contains(c.logs.String(), "client under online attack") {
				t.Fatal("an online attack was reported")
			}
			if rec := readClient(t, b, s, "web", "agent-1"); rec.Locked {
				t.Fatalf("the client itself is locked: %s", rec.LockReason)
			}
		})
	}
}

// TestLockedSourceRefusedEarly: once locked, a source's proofs are refused
// before they are opened, with the generic refusal: even an unopenable
// proof is refused as a locked source.
func TestLockedSourceRefusedEarly(t *testing.T) {
	b, s, c := setupRotation(t, map[string]interface{}{"lockout_threshold": 2})
	bad := c.copy()
	bad.from = "203.0.113.7"
	bad.entropy = make([]byte, len(c.entropy))
	bad.mustBeRefused(t, b, s)
	bad.mustBeRefused(t, b, s)
	garbage := c.loginData(t)
	garbage["proof"] = garbage["proof"].(string)[:200] + strings.Repeat("A", len(garbage["proof"].(string))-200)
	resp, err := requestFrom(t, b, s, "203.0.113.7", logical.UpdateOperation, "login", garbage)
	if err != logical.ErrPermissionDenied || resp != nil {
		t.Fatalf("resp=%v err=%v, want a bare permission denied", resp, err)
	}
	last := c.logs.String()[strings.LastIndex(c.logs.String(), "login refused"):]
	if !strings.Contains(last, errSourceLocked.Error()) || !strings.Contains(last, "remote_addr=203.0.113.7") {
		t.Fatalf("the last refusal is not the early one:\n%s", last)
	}
	line := c.logs.String()[strings.Index(c.logs.String(), "source locked out"):]
	for _, want := range []string{"role=web", "client_id=agent-1", "remote_addr=203.0.113.7", "failures=2"} {
		if !strings.Contains(line[:strings.Index(line, "\n")], want) {
			t.Fatalf("the lock's log line lacks %s: %s", want, line)
		}
	}
	d := readClientData(t, b, s, "web", "agent-1")
	checkFields(t, d, map[string]interface{}{"failed_logins": 2, "locked_sources": 1, "locked": false})
	c.login(t, b, s) // from 127.0.0.1
}

func TestOnlineAttackAlarm(t *testing.T) {
	b, s, c := setupRotation(t, map[string]interface{}{"lockout_threshold": 2, "lockout_counter_reset": "5m"})
	bad := c.copy()
	bad.entropy = make([]byte, len(c.entropy))
	attack := func(first, sources int) {
		for i := range sources {
			bad.from = "10.0.0." + strconv.Itoa(first+i)
			bad.mustBeRefused(t, b, s)
			bad.mustBeRefused(t, b, s)
		}
	}
	alarms := func() int { return strings.Count(c.logs.String(), "client under online attack") }
	attack(1, 10) // 20 failures: 10 × the threshold, not more
	if n := alarms(); n != 0 {
		t.Fatalf("%d alarms at 10 × the threshold", n)
	}
	attack(11, 20) // 60
	if n := alarms(); n != 1 {
		t.Fatalf("%d alarms, want one per window", n)
	}
	if !strings.Contains(c.logs.String(), "[ERROR]") {
		t.Fatal("the alarm is not an ERROR")
	}
	c.login(t, b, s) // the client is not locked
	c.clock.advance(5 * time.Minute)
	attack(31, 11) // 22 in the next window
	if n := alarms(); n != 2 {
		t.Fatalf("%d alarms after two windows, want 2", n)
	}
	c.login(t, b, s)
}

// TestLockoutTableFull: a full table counts no new source, never evicts
// one it counts, refuses nobody for being full and says so once a minute;
// expired counters make room again.
func TestLockoutTableFull(t *testing.T) {
	b, s, c := setupRotation(t, map[string]interface{}{"lockout_threshold": 3, "lockout_counter_reset": "5m", "lockout_duration": "15m"})
	b.lockout = newLockoutTable(2)
	bad := c.copy()
	bad.entropy = make([]byte, len(c.entropy))
	fail := func(from string, n int) {
		bad.from = from
		for range n {
			bad.mustBeRefused(t, b, s)
		}
	}
	honestFrom := func(from string) { c.from = from; c.login(t, b, s) }
	fullLogs := func() int { return strings.Count(c.logs.String(), "lockout table full") }

	fail("10.0.0.1", 1)
	fail("10.0.0.2", 1)
	fail("10.0.0.3", 10) // not counted: no room
	honestFrom("10.0.0.3")
	honestFrom("10.0.0.4")
	if n := fullLogs(); n != 1 {
		t.Fatalf("a full table was logged %d times, want once", n)
	}
	fail("10.0.0.1", 2) // counted sources keep their bound
	bad.from = "10.0.0.1"
	c.from = "10.0.0.1"
	c.mustBeRefused(t, b, s)
	if b.lockout.size != 2 {
		t.Fatalf("size %d", b.lockout.size)
	}

	// 10.0.0.2's window runs out: its counter is dropped at the next sweep
	// and 10.0.0.3 is counted.
	c.clock.advance(5 * time.Minute)
	fail("10.0.0.3", 3)
	c.from = "10.0.0.3"
	c.mustBeRefused(t, b, s)
	honestFrom("10.0.0.2")
	if n := fullLogs(); n != 1 {
		t.Fatalf("a full table was logged %d times", n)
	}
	// Still full (10.0.0.1 locked, 10.0.0.3 locked): a minute later, said again.
	c.clock.advance(time.Minute)
	fail("10.0.0.5", 1)
	if n := fullLogs(); n != 2 {
		t.Fatalf("a full table was logged %d times after a minute, want 2", n)
	}
	mustOK(t, b, s, logical.UpdateOperation, "role/web/client/agent-1/unlock", nil)
	if b.lockout.size != 0 || len(b.lockout.clients) != 0 {
		t.Fatalf("unlock left %d counters", b.lockout.size)
	}
}

// TestLockoutTableCounts checks the table's accounting directly.
func TestLockoutTableCounts(t *testing.T) {
	now := time.Now()
	p := lockoutPolicy{threshold: 2, counterReset: time.Minute, duration: time.Hour}
	tb := newLockoutTable(10)
	tb.fail("web", "a", "s1", now, p)
	tb.fail("web", "a", "s2", now, p)
	tb.fail("web", "b", "s1", now, p)
	if out := tb.fail("web", "a", "s1", now, p); !out.locked || out.failures != 2 || out.sources != 2 || out.clientFailures != 3 {
		t.Fatalf("%+v", out)
	}
	// A failure that passed the early check before the lock: counted, the
	// lock not extended.
	if out := tb.fail("web", "a", "s1", now.Add(time.Second), p); out.locked || out.failures != 3 {
		t.Fatalf("%+v", out)
	}
	if f, l := tb.counts("web", "a", now); f != 4 || l != 1 {
		t.Fatalf("counts %d %d", f, l)
	}
	if !tb.locked("web", "a", "s1", now.Add(time.Hour-time.Nanosecond)) || tb.locked("web", "a", "s1", now.Add(time.Hour)) || tb.locked("web", "b", "s1", now) {
		t.Fatal("locked")
	}
	// Past the window, s2's failure is forgotten; past the lock, s1's.
	if f, l := tb.counts("web", "a", now.Add(time.Minute)); f != 3 || l != 1 {
		t.Fatalf("counts after the window %d %d", f, l)
	}
	tb.clear("web", "a")
	if tb.size != 1 || tb.locked("web", "a", "s1", now) {
		t.Fatalf("size %d after clear", tb.size)
	}
	tb.clear("web", "nobody")
	if tb.size != 1 {
		t.Fatal("clearing an unknown client changed the size")
	}
}
