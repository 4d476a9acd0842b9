package backend

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

func setupLogin(t *testing.T, roleData map[string]interface{}) (*entropyBackend, logical.Storage, *testClient) {
	t.Helper()
	b, s := getTestBackend(t)
	data := map[string]interface{}{"token_policies": "web-read", "token_ttl": "10m", "token_max_ttl": "1h"}
	for k, v := range roleData {
		data[k] = v
	}
	mustOK(t, b, s, logical.UpdateOperation, "role/web", data)
	return b, s, enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-1"})
}

func TestLoginEverySuite(t *testing.T) {
	for _, suite := range protocol.Suites() {
		t.Run(suite.String(), func(t *testing.T) {
			b, s := getTestBackend(t)
			mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_suite": suite.String()})
			mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"token_policies": "web-read", "token_ttl": "10m"})
			c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-1"})
			if c.key.Suite() != suite {
				t.Fatalf("bundle key suite = %s", c.key.Suite())
			}
			before := storageSnapshot(t, s)
			resp := mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
			a := resp.Auth
			if a == nil {
				t.Fatal("no auth")
			}
			if !reflect.DeepEqual(a.Policies, []string{"web-read"}) || a.TTL != 10*time.Minute {
				t.Fatalf("policies %v ttl %v", a.Policies, a.TTL)
			}
			wantMeta := map[string]string{"role": "web", "client_id": "agent-1", "generation": "1", "login_id": a.Metadata["login_id"]}
			if len(a.Metadata["login_id"]) != 32 {
				t.Fatalf("login_id %q", a.Metadata["login_id"])
			}
			rec := readClient(t, b, s, "web", "agent-1")
			if !reflect.DeepEqual(a.Metadata, wantMeta) || a.Alias.Name != "web/agent-1/"+rec.EnrollmentID || a.DisplayName != "web-agent-1" {
				t.Fatalf("metadata %v alias %v display %q", a.Metadata, a.Alias, a.DisplayName)
			}
			if a.InternalData["role"] != "web" || a.InternalData["client_id"] != "agent-1" {
				t.Fatalf("internal data %v", a.InternalData)
			}
			// The first login's only write is the replay watermark.
			after := storageSnapshot(t, s)
			if len(after) != len(before)+1 {
				t.Fatalf("login wrote %d entries, want 1", len(after)-len(before))
			}
			for k := range after {
				if _, ok := before[k]; !ok && k != watermarkStorageKey {
					t.Fatalf("login wrote %s", k)
				}
			}
		})
	}
}

func TestLoginRefusals(t *testing.T) {
	stranger, err := protocol.GenerateKey(protocol.SuiteXWing)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]struct {
		roleData map[string]interface{}
		setup    func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient)
		data     func(t *testing.T, c *testClient) map[string]interface{}
		// named is the refusal's message when the server names it (400);
		// otherwise it is a bare permission denied.
		named error
		// counted is the client whose failure count (in memory) the
		// refusal raises: only a failed digest comparison counts, and no
		// refusal writes to storage.
		counted string
	}{
		"garbage proof": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			return map[string]interface{}{"role": "web", "client_id": c.id, "proof": "garbage"}
		}},
		"oversized proof": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			return map[string]interface{}{"role": "web", "client_id": c.id, "proof": strings.Repeat("A", 1<<20)}
		}},
		"tampered proof": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			d := c.loginData(t)
			// Flip a bit of the sealed bytes, not of a base64 character.
			raw, err := base64.RawURLEncoding.DecodeString(d["proof"].(string))
			if err != nil {
				t.Fatal(err)
			}
			raw[len(raw)-5] ^= 0x01
			d["proof"] = base64.RawURLEncoding.EncodeToString(raw)
			return d
		}},
		"sealed to an unknown key": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			c.key = stranger.Public()
			return c.loginData(t)
		}, named: protocol.ErrKeyNotAccepted},
		"other client_id in request": {
			setup: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
				enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-2"})
			},
			data: func(t *testing.T, c *testClient) map[string]interface{} {
				d := c.loginData(t)
				d["client_id"] = "agent-2"
				return d
			}},
		"other role in request": {
			setup: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
				mustOK(t, b, s, logical.UpdateOperation, "role/db", nil)
				enroll(t, b, s, "db", map[string]interface{}{"client_id": "agent-1"})
			},
			data: func(t *testing.T, c *testClient) map[string]interface{} {
				d := c.loginData(t)
				d["role"] = "db"
				return d
			}},
		"another client's proof": {
			data: func(t *testing.T, c *testClient) map[string]interface{} {
				c.id = "agent-2" // agent-2 does not hold agent-1's entropy
				return c.loginData(t)
			},
			counted: "agent-2",
			setup: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
				enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-2"})
			}},
		"unknown role": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			c.role = "nope"
			return c.loginData(t)
		}},
		"unknown client": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			c.id = "nobody"
			return c.loginData(t)
		}},
		"invalid names": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			d := c.loginData(t)
			d["role"], d["client_id"] = "../../etc", "A B"
			return d
		}},
		"too old": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			d := c.loginData(t)
			d["proof"] = c.proofAt(t, time.Now().Add(-2*time.Minute))
			return d
		}},
		"from the future": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			d := c.loginData(t)
			d["proof"] = c.proofAt(t, time.Now().Add(2*time.Minute))
			return d
		}},
		"wrong generation": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			c.generation = 2
			return c.loginData(t)
		}},
		// A version 1 proof carries its ranges: a wrong sampling is caught
		// by comparing them, which tests no guess of the entropy.
		"other sampling, version 1": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			c.version, c.sampling = 1, protocol.Sampling{Count: 16, Length: 16}
			return c.loginData(t)
		}},
		// A version 2 proof does not: the same mistake is a digest that
		// does not match, which counts like any wrong guess.
		"other sampling": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			c.sampling = protocol.Sampling{Count: 16, Length: 16}
			return c.loginData(t)
		}, counted: "agent-1"},
		"wrong entropy": {data: func(t *testing.T, c *testClient) map[string]interface{} {
			c.entropy = append([]byte(nil), c.entropy...)
			for i := range c.entropy {
				c.entropy[i] ^= 0xff
			}
			return c.loginData(t)
		}, counted: "agent-1"},
		"deleted client": {
			setup: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
				mustOK(t, b, s, logical.DeleteOperation, "role/web/client/"+c.id, nil)
			},
			data: func(t *testing.T, c *testClient) map[string]interface{} { return c.loginData(t) }},
		"expired client": {
			setup: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
				expireClient(t, b, s, c)
			},
			data: func(t *testing.T, c *testClient) map[string]interface{} { return c.loginData(t) }},
		"outside login_bound_cidrs": {
			roleData: map[string]interface{}{"login_bound_cidrs": "10.0.0.0/8"},
			data:     func(t *testing.T, c *testClient) map[string]interface{} { return c.loginData(t) }},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, s, c := setupLogin(t, tc.roleData)
			if tc.setup != nil {
				tc.setup(t, b, s, c)
			}
			before := storageSnapshot(t, s)
			resp, err := request(t, b, s, logical.UpdateOperation, "login", tc.data(t, c))
			switch {
			case tc.named != nil:
				if err != nil || resp == nil || !resp.IsError() || resp.Auth != nil || resp.Error().Error() != tc.named.Error() {
					t.Fatalf("got resp=%v err=%v, want the named refusal %q", resp, err, tc.named)
				}
			case err != logical.ErrPermissionDenied || resp != nil:
				t.Fatalf("got resp=%v err=%v, want a bare permission denied", resp, err)
			}
			after := storageSnapshot(t, s)
			for _, id := range []string{"agent-1", "agent-2"} {
				want := 0
				if id == tc.counted {
					want = 1
				}
				if n, _ := b.lockout.counts("web", id, b.now()); n != want {
					t.Fatalf("failures counted against %s = %d, want %d", id, n, want)
				}
			}
			if !equalSnapshots(before, after) {
				t.Fatalf("refused login changed storage: %v -> %v", keysOf(before), keysOf(after))
			}
		})
	}
}

func expireClient(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
	t.Helper()
	ce, err := b.client(context.Background(), s, c.role, c.id)
	if err != nil || ce == nil {
		t.Fatal(err)
	}
	ce.ExpiresAt = time.Now().Add(-time.Second)
	if err := b.putClient(context.Background(), s, ce); err != nil {
		t.Fatal(err)
	}
}

func TestLoginMissingFields(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	full := c.loginData(t)
	for _, missing := range []string{"role", "client_id", "proof"} {
		t.Run(missing, func(t *testing.T) {
			d := map[string]interface{}{}
			for k, v := range full {
				if k != missing {
					d[k] = v
				}
			}
			before := storageSnapshot(t, s)
			resp, err := request(t, b, s, logical.UpdateOperation, "login", d)
			if err != nil || resp == nil || !resp.IsError() || resp.Auth != nil || !strings.Contains(resp.Error().Error(), missing) {
				t.Fatalf("resp=%v err=%v, want an error naming %s", resp, err, missing)
			}
			if !equalSnapshots(before, storageSnapshot(t, s)) {
				t.Fatal("storage changed")
			}
		})
	}
	t.Run("wrong type", func(t *testing.T) {
		resp, err := request(t, b, s, logical.UpdateOperation, "login", map[string]interface{}{"role": "web", "client_id": c.id, "proof": []int{1}})
		if err == nil && (resp == nil || !resp.IsError()) {
			t.Fatalf("accepted a proof of the wrong type: %v", resp)
		}
	})
}

func TestLoginReplayRefused(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	d := c.loginData(t)
	mustOK(t, b, s, logical.UpdateOperation, "login", d)
	before := storageSnapshot(t, s)
	resp, err := request(t, b, s, logical.UpdateOperation, "login", d)
	if err != logical.ErrPermissionDenied || resp != nil {
		t.Fatalf("replay: resp=%v err=%v", resp, err)
	}
	if !equalSnapshots(before, storageSnapshot(t, s)) {
		t.Fatal("replay changed storage")
	}
	// A fresh proof still works.
	mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
}

func TestLoginConcurrent(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	t.Run("50 fresh proofs all succeed", func(t *testing.T) {
		var wg sync.WaitGroup
		var ok atomic.Int32
		proofs := make([]map[string]interface{}, 50)
		for i := range proofs {
			proofs[i] = c.loginData(t)
		}
		for _, d := range proofs {
			wg.Go(func() {
				resp, err := request(t, b, s, logical.UpdateOperation, "login", d)
				if err == nil && resp != nil && resp.Auth != nil {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 50 {
			t.Fatalf("%d of 50 concurrent logins succeeded", ok.Load())
		}
	})
	t.Run("one proof sent 20 times at once succeeds once", func(t *testing.T) {
		var wg sync.WaitGroup
		var ok atomic.Int32
		d := c.loginData(t)
		for range 20 {
			wg.Go(func() {
				resp, err := request(t, b, s, logical.UpdateOperation, "login", d)
				if err == nil && resp != nil && resp.Auth != nil {
					ok.Add(1)
				}
			})
		}
		wg.Wait()
		if ok.Load() != 1 {
			t.Fatalf("one proof accepted %d times", ok.Load())
		}
	})
}

func TestLoginAliasLookaheadAndResolveRole(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	resp := mustOK(t, b, s, logical.AliasLookaheadOperation, "login", c.loginData(t))
	if resp.Auth.Alias.Name != "web/agent-1/"+readClient(t, b, s, "web", "agent-1").EnrollmentID {
		t.Fatalf("alias = %v", resp.Auth.Alias)
	}
	resp = mustOK(t, b, s, logical.ResolveRoleOperation, "login", c.loginData(t))
	if resp.Data["role"] != "web" {
		t.Fatalf("resolve role = %v", resp.Data)
	}
	d := c.loginData(t)
	d["role"] = "nope"
	if _, err := request(t, b, s, logical.ResolveRoleOperation, "login", d); err != logical.ErrPermissionDenied {
		t.Fatalf("resolve role of an unknown role: %v", err)
	}
	mustFail(t, b, s, logical.AliasLookaheadOperation, "login", map[string]interface{}{"role": "web"})
}

func TestLoginRenew(t *testing.T) {
	cases := map[string]struct {
		change func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient)
		ok     bool
	}{
		"unchanged": {ok: true},
		"other role fields changed": {ok: true, change: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"token_ttl": "20m"})
		}},
		"client deleted": {change: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.DeleteOperation, "role/web/client/"+c.id, nil)
		}},
		"role deleted": {change: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.DeleteOperation, "role/web", nil)
		}},
		"policies changed": {change: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"token_policies": "web-read,admin"})
		}},
		"client expired": {change: func(t *testing.T, b *entropyBackend, s logical.Storage, c *testClient) {
			expireClient(t, b, s, c)
		}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, s, c := setupLogin(t, nil)
			auth := mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t)).Auth
			// Vault's core does this when it creates the token.
			auth.TokenPolicies = auth.Policies
			if tc.change != nil {
				tc.change(t, b, s, c)
			}
			req := &logical.Request{Operation: logical.RenewOperation, Path: "login", Storage: s, Auth: auth}
			resp, err := b.HandleRequest(context.Background(), req)
			if tc.ok {
				if err != nil || resp == nil || resp.Auth == nil {
					t.Fatalf("renew refused: %v %v", resp, err)
				}
				return
			}
			if err == nil && (resp == nil || !resp.IsError()) {
				t.Fatalf("renew allowed: %v", resp)
			}
		})
	}
}

func TestLoginRefusalLogsReasonButNoSecret(t *testing.T) {
	var buf bytes.Buffer
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	conf.Logger = hclog.New(&hclog.LoggerOptions{Output: &buf, Level: hclog.Trace})
	b, s := newTestBackend(t, conf), conf.StorageView
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	c := enroll(t, b, s, "web", nil)
	good := c.loginData(t)
	mustOK(t, b, s, logical.UpdateOperation, "login", good)
	request(t, b, s, logical.UpdateOperation, "login", good) // replay

	log := buf.String()
	if !strings.Contains(log, "login refused") || !strings.Contains(log, protocol.ErrReplay.Error()) {
		t.Fatalf("log lacks the refusal reason:\n%s", log)
	}
	secrets := map[string]string{
		"proof":          good["proof"].(string)[:40],
		"entropy":        base64.StdEncoding.EncodeToString(c.entropy)[:40],
		"entropy prefix": string(c.entropy[:16]),
	}
	for what, s := range secrets {
		if strings.Contains(log, s) {
			t.Fatalf("log contains the %s", what)
		}
	}
}

func TestLoginAcrossKeyRotation(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	clock := useClock(b)
	mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil)
	// The client still holds the previous key: its proofs are accepted,
	// after a second rotation too (path_keys_grace_test.go).
	mustOK(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now()))
	mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil)
	mustOK(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now()))
	// Once its grace period is over that key is gone, and the server says so.
	clock.advance(defaultKeyGrace)
	resp, err := request(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now()))
	if err != nil || resp == nil || !resp.IsError() || resp.Error().Error() != protocol.ErrKeyNotAccepted.Error() {
		t.Fatalf("proof sealed to a dropped key: %v %v", resp, err)
	}
}

// BenchmarkLogin measures the whole login handler on in-memory storage,
// per suite; compare suites with each other, not with a fixed number.
func BenchmarkLogin(b *testing.B) {
	for _, suite := range protocol.Suites() {
		b.Run(suite.String(), func(b *testing.B) {
			be, s := getTestBackend(b)
			mustOK(b, be, s, logical.UpdateOperation, "config", map[string]interface{}{"key_suite": suite.String()})
			mustOK(b, be, s, logical.UpdateOperation, "role/web", nil)
			c := enroll(b, be, s, "web", nil)
			proofs := make([]map[string]interface{}, b.N)
			for i := range proofs {
				proofs[i] = c.loginData(b)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				req := &logical.Request{Operation: logical.UpdateOperation, Path: "login", Storage: s, Data: proofs[i]}
				if resp, err := be.HandleRequest(context.Background(), req); err != nil || resp.Auth == nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestCheapChecksComeFirst: the checks that need neither a key nor storage
// run before those that do, so that a proof presented for another client,
// or replayed late, costs no decryption or no storage read.
func TestCheapChecksComeFirst(t *testing.T) {
	b, s, logs := getLoggedTestBackend(t)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
	c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-1"})
	// Sealed to a key the server no longer accepts, and for another
	// client: the header is compared first, so the answer is the generic
	// refusal, not the named one that a key lookup would give.
	stale := c.proof(t)
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_grace_period": "0s"})
	mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil)
	resp, err := request(t, b, s, logical.UpdateOperation, "login", map[string]interface{}{"role": "web", "client_id": "agent-2", "proof": stale})
	if err != logical.ErrPermissionDenied || resp != nil {
		t.Fatalf("another client's proof: resp=%v err=%v", resp, err)
	}
	if !strings.Contains(logs.String(), protocol.ErrHeaderMismatch.Error()) {
		t.Fatalf("refused for another reason:\n%s", logs.String())
	}
}

// TestAcceptedLoginLogLine: an accepted login is logged only when the
// config asks for it; a refusal always is.
func TestAcceptedLoginLogLine(t *testing.T) {
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("log_accepted_logins=%v", on), func(t *testing.T) {
			b, s, logs := getLoggedTestBackend(t)
			mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"log_accepted_logins": on})
			mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
			c := enroll(t, b, s, "web", map[string]interface{}{"client_id": "agent-1"})
			mustOK(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
			if got := strings.Contains(logs.String(), "login accepted"); got != on {
				t.Fatalf("login accepted logged: %v, want %v\n%s", got, on, logs)
			}
			c.entropy = bytes.Repeat([]byte{0}, len(c.entropy))
			mustFail(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
			if !strings.Contains(logs.String(), "login refused") {
				t.Fatalf("a refusal was not logged:\n%s", logs)
			}
		})
	}
}
