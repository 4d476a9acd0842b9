package adversarial

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// LongEnv makes the flood and the cost measurement ten times longer.
const LongEnv = "ENTROPY_ADVERSARIAL_LONG"

const workers = 16

func scale() int {
	if os.Getenv(LongEnv) == "1" {
		return 10
	}
	return 1
}

// outcome counts what a batch of logins answered.
type outcome struct {
	byStatus  map[int]int
	tokens    int
	transport int // requests that got no HTTP answer
	named     int // 400s with the named key refusal
	wall      time.Duration
	vaultCPU  time.Duration
	pluginCPU time.Duration
}

// fire sends every body to the login endpoint from `workers` goroutines
// over kept-alive connections, and measures the wall time and the CPU time
// Vault and the plugin spent meanwhile.
func (e *env) fire(t testing.TB, bodies [][]byte) outcome {
	t.Helper()
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
	defer hc.CloseIdleConnections()
	url := e.Addr + "/v1/auth/" + mount + "/login"
	var (
		next atomic.Int64
		mu   sync.Mutex
		o    = outcome{byStatus: map[int]int{}}
		wg   sync.WaitGroup
	)
	v0, p0 := e.cpuTime(t)
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(bodies) {
					return
				}
				status, token, named := postOnce(hc, url, bodies[i])
				mu.Lock()
				switch {
				case status == 0:
					o.transport++
				default:
					o.byStatus[status]++
				}
				if token {
					o.tokens++
				}
				if named {
					o.named++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	o.wall = time.Since(start)
	v1, p1 := e.cpuTime(t)
	o.vaultCPU, o.pluginCPU = v1-v0, p1-p0
	return o
}

// postOnce sends one login; status 0 means no HTTP answer.
func postOnce(hc *http.Client, url string, body []byte) (status int, token, named bool) {
	resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return 0, false, false
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, bytes.Contains(raw, []byte(`"client_token"`)), bytes.Contains(raw, []byte(keyNotAccepted.text))
}

func loginBody(role, clientID, proof string) []byte {
	b, _ := json.Marshal(map[string]string{"role": role, "client_id": clientID, "proof": proof})
	return b
}

// Kinds of garbage, each cheaper or dearer for the server.

// undecodable: random base64url text of random length up to past the
// 8192-character limit: refused at step 1, before any cryptography.
func undecodable(n int) [][]byte {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	out := make([][]byte, n)
	for i := range out {
		b := make([]byte, 1+mrand.IntN(9000))
		for j := range b {
			b[j] = alphabet[mrand.IntN(len(alphabet))]
		}
		out[i] = loginBody("web", "alice", string(b))
	}
	return out
}

// unopenable: a well-formed header naming web/alice under the server's
// real key, then random enc and ct: the server must run the KEM and the
// AEAD to refuse it (step 6). It names a real client and must not count
// toward its lockout.
func unopenable(t testing.TB, e *env, n int) [][]byte {
	t.Helper()
	wire := decodeWire(t, freshProof(t, e, "web/alice"))
	out := make([][]byte, n)
	for i := range out {
		w := append([]byte(nil), wire...)
		if _, err := rand.Read(w[aliceHeader:]); err != nil {
			t.Fatal(err)
		}
		out[i] = loginBody("web", "alice", encodeWire(w))
	}
	return out
}

// misaddressed: one valid proof of alice, sent as bob again and again. It
// opens (the expensive part), then its header does not match the request
// (step 8); no nonce is used up, so it can be sent forever.
func misaddressed(t testing.TB, e *env, n int) [][]byte {
	t.Helper()
	body := loginBody("web", "bob", freshProof(t, e, "web/alice"))
	out := make([][]byte, n)
	for i := range out {
		out[i] = body
	}
	return out
}

// testFlood: garbage from 16 goroutines is all refused, writes nothing,
// locks nobody out, and leaves the server serving.
func testFlood(t *testing.T, e *env) {
	each := 700 * scale()
	var bodies [][]byte
	bodies = append(bodies, undecodable(each)...)
	bodies = append(bodies, unopenable(t, e, each)...)
	bodies = append(bodies, misaddressed(t, e, each)...)
	mrand.Shuffle(len(bodies), func(i, j int) { bodies[i], bodies[j] = bodies[j], bodies[i] })

	before := e.MountStorage(t, mount)
	failed := map[string]int64{}
	for _, rc := range []string{"web/alice", "web/bob"} {
		failed[rc], _ = e.failures(t, rc)
	}
	o := e.fire(t, bodies)
	t.Logf("flood: %d garbage logins in %s (%.0f/s): %v", len(bodies), o.wall.Round(time.Millisecond), float64(len(bodies))/o.wall.Seconds(), o.byStatus)
	if o.tokens > 0 {
		t.Errorf("%d garbage logins got a token", o.tokens)
	}
	if o.transport > 0 {
		t.Errorf("%d garbage logins got no HTTP answer", o.transport)
	}
	for status, n := range o.byStatus {
		// 403, or the named 400 for random text that happens to parse as
		// a header with an unknown key ID.
		if status != http.StatusForbidden && (status != http.StatusBadRequest || n != o.named) {
			t.Errorf("%d garbage logins answered %d", n, status)
		}
	}
	assertUnchanged(t, before, e.MountStorage(t, mount))
	for _, rc := range []string{"web/alice", "web/bob"} {
		if n, locked := e.failures(t, rc); n != failed[rc] || locked {
			t.Errorf("garbage that does not open counted against %s: failed_logins %d -> %d, locked %v", rc, failed[rc], n, locked)
		}
		e.honestLogin(t, rc)
	}
	e.alive(t)
}

// testCost measures, without asserting it, what the server spends on each
// kind of garbage and on valid logins, from the same number of goroutines.
func testCost(t *testing.T, e *env) {
	n := 320 * scale()
	// Valid logins: one client per goroutine (a client's logins take its
	// lock in turn), proofs built before the clock starts.
	var valid [][]byte
	for i := range workers {
		rc := fmt.Sprintf("load/c%02d", i)
		e.state[rc] = e.Enroll(t, "auth/"+mount, "load", fmt.Sprintf("c%02d", i))
	}
	for j := range n {
		rc := fmt.Sprintf("load/c%02d", j%workers)
		valid = append(valid, loginBody("load", rc[len("load/"):], freshProof(t, e, rc)))
	}
	phases := []struct {
		name   string
		bodies [][]byte
		valid  bool
	}{
		{"garbage: not base64url / too long (step 1)", undecodable(n), false},
		{"garbage: real header, random enc+ct (fails open, step 6)", unopenable(t, e, n), false},
		{"garbage: valid proof, other client_id (opens, step 8)", misaddressed(t, e, n), false},
		{"valid logins (batch tokens)", valid, true},
	}
	t.Logf("cost of %d logins per kind from %d goroutines on %s (CPU from /proc/PID/stat, 10 ms ticks):", n, workers, e.Addr)
	t.Logf("%-58s %9s %14s %14s %8s", "kind", "logins/s", "Vault CPU s/1k", "plugin CPU s/1k", "statuses")
	for _, p := range phases {
		o := e.fire(t, p.bodies)
		per := func(d time.Duration) float64 { return d.Seconds() * 1000 / float64(len(p.bodies)) }
		t.Logf("%-58s %9.0f %14.2f %14.2f %v", p.name, float64(len(p.bodies))/o.wall.Seconds(), per(o.vaultCPU), per(o.pluginCPU), o.byStatus)
		if p.valid && o.byStatus[http.StatusOK] != len(p.bodies) {
			t.Errorf("valid logins: %v, want all %d accepted", o.byStatus, len(p.bodies))
		}
		if !p.valid && (o.tokens > 0 || o.byStatus[http.StatusForbidden] != len(p.bodies)) {
			t.Errorf("garbage: %v and %d tokens, want all %d refused with 403", o.byStatus, o.tokens, len(p.bodies))
		}
	}
	e.alive(t)
}
