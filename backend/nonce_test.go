package backend

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
)

// restartOn returns a new backend on the same storage, as after a restart,
// a plugin reload or a leader change: nothing of the old one's memory. It
// is initialized as Vault does on the active node.
func restartOn(t testing.TB, s logical.Storage, clock *testClock) *entropyBackend {
	t.Helper()
	conf := logical.TestBackendConfig()
	conf.StorageView = s
	raw, err := Factory(context.Background(), conf)
	if err != nil {
		t.Fatal(err)
	}
	b := raw.(*entropyBackend)
	b.now = clock.now
	if err := b.Initialize(context.Background(), &logical.InitializationRequest{Storage: s}); err != nil {
		t.Fatal(err)
	}
	return b
}

func loginAt(t testing.TB, b *entropyBackend, s logical.Storage, c *testClient, at time.Time) map[string]interface{} {
	t.Helper()
	return map[string]interface{}{"role": c.role, "client_id": c.id, "proof": c.proofAt(t, at)}
}

// isNamedRefusal reports whether a login answer is the named refusal err.
func isNamedRefusal(resp *logical.Response, err error, named error) bool {
	return err == nil && resp != nil && resp.IsError() && resp.Auth == nil &&
		strings.Contains(resp.Error().Error(), named.Error())
}

func TestLoginWritesNoNonceRecords(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	clock := useClock(b)
	mustOK(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now()))
	before := storageSnapshot(t, s)
	// Within the watermark's step, logins write nothing at all.
	for range 20 {
		mustOK(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now()))
	}
	if !equalSnapshots(before, storageSnapshot(t, s)) {
		t.Fatalf("ordinary logins changed storage: %v -> %v", keysOf(before), keysOf(storageSnapshot(t, s)))
	}
	if got := b.nonces.(*memoryNonceStore).size(); got != 21 {
		t.Fatalf("memory holds %d nonces, want 21", got)
	}
}

func TestWatermarkIsRaisedAboutOncePerStep(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	clock := useClock(b)
	const seconds = 12
	writes := 0
	last := ""
	for range seconds {
		for range 5 {
			mustOK(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now()))
			if w := storageSnapshot(t, s)[watermarkStorageKey]; w != last {
				writes, last = writes+1, w
			}
		}
		clock.advance(time.Second)
	}
	// Raised to a step past the proof, it is raised again a step and a
	// second later: between seconds/(step+1) and seconds/step writes.
	step := int(watermarkStep / time.Second)
	if writes < seconds/(step+1) || writes > seconds/step {
		t.Fatalf("the watermark was written %d times in %d s of logins (step %s)", writes, seconds, watermarkStep)
	}
}

func TestReplayRefusedAcrossRestart(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	clock := useClock(b)
	accepted := loginAt(t, b, s, c, clock.now())
	mustOK(t, b, s, logical.UpdateOperation, "login", accepted)
	sameSecond := loginAt(t, b, s, c, clock.now())

	restarted := restartOn(t, s, clock)
	before := storageSnapshot(t, s)
	// The new node cannot know the first proof was accepted: it refuses
	// it, and every honest proof as old, by name and without a trace.
	for name, d := range map[string]map[string]interface{}{"replay": accepted, "fresh, same second": sameSecond} {
		resp, err := request(t, restarted, s, logical.UpdateOperation, "login", d)
		if !isNamedRefusal(resp, err, protocol.ErrProofPredatesWindow) {
			t.Fatalf("%s after restart: resp=%v err=%v", name, resp, err)
		}
	}
	if !equalSnapshots(before, storageSnapshot(t, s)) {
		t.Fatal("refusals changed storage")
	}
	if n, _ := restarted.lockout.counts(c.role, c.id, clock.now()); n != 0 || readClient(t, restarted, s, c.role, c.id).Locked {
		t.Fatalf("refusals counted toward lockout: %d failures", n)
	}
	// Once the clock passes the watermark, a new proof is accepted, and is
	// single use on this node too.
	clock.advance(watermarkStep + time.Second)
	d := loginAt(t, restarted, s, c, clock.now())
	mustOK(t, restarted, s, logical.UpdateOperation, "login", d)
	if resp, err := request(t, restarted, s, logical.UpdateOperation, "login", d); err != logical.ErrPermissionDenied || resp != nil {
		t.Fatalf("replay on the new node: resp=%v err=%v", resp, err)
	}
	// The replayed first proof is still refused, now as too old or as
	// predating the window: never accepted.
	if resp, err := request(t, restarted, s, logical.UpdateOperation, "login", accepted); err == nil && resp != nil && resp.Auth != nil {
		t.Fatal("accepted a replay after restart")
	}
}

func TestFutureProofsAreBounded(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	clock := useClock(b)
	mustOK(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now().Add(maxFutureSkew)))
	resp, err := request(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now().Add(maxFutureSkew+time.Second)))
	if err != logical.ErrPermissionDenied || resp != nil {
		t.Fatalf("a proof %s ahead: resp=%v err=%v", maxFutureSkew+time.Second, resp, err)
	}
	// The past side keeps the configured skew.
	mustOK(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now().Add(-50*time.Second)))
}

func TestMemoryIsForgottenAfterTheWindow(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	clock := useClock(b)
	first := loginAt(t, b, s, c, clock.now())
	mustOK(t, b, s, logical.UpdateOperation, "login", first)
	for range 9 {
		mustOK(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now()))
	}
	store := b.nonces.(*memoryNonceStore)
	clock.advance(defaultClockSkew + memoryMargin + time.Second)
	mustOK(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now()))
	if got := store.size(); got != 1 {
		t.Fatalf("memory holds %d nonces after the window, want 1", got)
	}
	// With the skew raised, the first proof would pass the time check
	// again, and memory has forgotten it: it is refused all the same.
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"allowed_clock_skew": "10m"})
	resp, err := request(t, b, s, logical.UpdateOperation, "login", first)
	if !isNamedRefusal(resp, err, protocol.ErrProofPredatesWindow) {
		t.Fatalf("a forgotten proof after the skew was raised: resp=%v err=%v", resp, err)
	}
}

// failingStorage refuses writes of one key, as a deposed raft leader
// refuses every write.
type failingStorage struct {
	logical.Storage
	key string
}

func (f *failingStorage) Put(ctx context.Context, e *logical.StorageEntry) error {
	if e.Key == f.key {
		return errors.New("node is not the leader")
	}
	return f.Storage.Put(ctx, e)
}

func TestNoLoginWithoutTheWatermark(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	fs := &failingStorage{Storage: s, key: watermarkStorageKey}
	resp, err := request(t, b, fs, logical.UpdateOperation, "login", c.loginData(t))
	if err == nil || (resp != nil && resp.Auth != nil) {
		t.Fatalf("logged in without raising the watermark: resp=%v err=%v", resp, err)
	}
	// The nonce was not spent: the same proof goes through once the
	// watermark can be written.
	d := c.loginData(t)
	if _, err := request(t, b, fs, logical.UpdateOperation, "login", d); err == nil {
		t.Fatal("want a fault")
	}
	mustOK(t, b, s, logical.UpdateOperation, "login", d)
}

func TestPredatingProofOfSupersededGenerationIsNotAClone(t *testing.T) {
	b, s, c := setupRotation(t, map[string]interface{}{"rotation_period": "1s"})
	old := c.copy()
	c.clock.advance(2 * time.Second)
	c.login(t, b, s) // handed generation 2
	c.login(t, b, s) // proves it: generation 1 is superseded
	c.clock.advance(time.Second)
	restarted := restartOn(t, s, c.clock)
	resp, err := request(t, restarted, s, logical.UpdateOperation, "login", map[string]interface{}{
		"role": old.role, "client_id": old.id, "proof": old.proofAt(t, c.clock.now()),
	})
	if !isNamedRefusal(resp, err, protocol.ErrProofPredatesWindow) {
		t.Fatalf("resp=%v err=%v", resp, err)
	}
	if cl := readClient(t, restarted, s, c.role, c.id); cl.Locked {
		t.Fatalf("a proof the node cannot judge locked the client: %+v", cl)
	}
}

func TestLoginsForwardedFromPerformanceNodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		state   consts.ReplicationState
		local   bool
		forward bool
	}{
		{"community or active node", 0, false, false},
		{"performance standby", consts.ReplicationPerformanceStandby, false, true},
		{"performance secondary, replicated mount", consts.ReplicationPerformanceSecondary, false, true},
		{"performance secondary, local mount", consts.ReplicationPerformanceSecondary, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := logical.TestSystemView()
			sys.ReplicationStateVal = tc.state
			sys.LocalMountVal = tc.local
			b, s := getTestBackendWithSystem(t, sys)
			mustOK(t, b, s, logical.UpdateOperation, "role/web", nil)
			c := enroll(t, b, s, "web", nil)
			_, err := request(t, b, s, logical.UpdateOperation, "login", c.loginData(t))
			if forwarded := errors.Is(err, logical.ErrReadOnly); forwarded != tc.forward {
				t.Fatalf("forwarded = %v (err %v), want %v", forwarded, err, tc.forward)
			}
		})
	}
}

func TestAQuietRestartRefusesNothing(t *testing.T) {
	b, s, c := setupLogin(t, nil)
	clock := useClock(b)
	mustOK(t, b, s, logical.UpdateOperation, "login", loginAt(t, b, s, c, clock.now()))
	// Restarted once the watermark is behind the clock (a restart takes
	// seconds), and on a fresh mount (no watermark at all), the first new
	// proof is accepted.
	clock.advance(watermarkStep + time.Second)
	restarted := restartOn(t, s, clock)
	mustOK(t, restarted, s, logical.UpdateOperation, "login", loginAt(t, restarted, s, c, clock.now()))

	fresh, fs, fc := setupLogin(t, nil)
	mustOK(t, fresh, fs, logical.UpdateOperation, "login", fc.loginData(t))
}
