package load

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
)

// GarbageResult is valid logins and garbage side by side, with the mount's
// storage keys counted before and after the garbage (nil without sys/raw).
type GarbageResult struct {
	Phases     []Result       `json:"phases"`
	KeysBefore map[string]int `json:"mount_keys_before,omitempty"`
	KeysAfter  map[string]int `json:"mount_keys_after,omitempty"`
}

// garbage sends valid logins, then each kind of garbage, at the same
// concurrency and count, and counts the mount's storage keys around the
// garbage when sys/raw is enabled.
func (r *runner) garbage(ctx context.Context) (*GarbageResult, error) {
	cfg := r.cfg
	c := cfg.GarbageConcurrency
	mount := "auth/" + r.tgt.mount()
	path := mount + "/login"
	valid, err := r.ensureOwn(ctx, r.tgt.mount(), "batch", c)
	if err != nil {
		return nil, err
	}
	victims, _, err := enroll(ctx, r.vc, mount, roleGarbage, c, cfg.EnrollConcurrency, func(int) bool { return true })
	if err != nil {
		return nil, err
	}
	out := &GarbageResult{}
	req, err := r.entropyRequests(valid, cfg.Logins, func(i int) int { return i % c })
	if err != nil {
		return nil, err
	}
	v := r.phase("garbage", "valid", "batch", c, cfg.Logins, req, expectToken, 0).run(ctx, r.h, r.pid)
	r.logResult(v)
	out.Phases = append(out.Phases, v)

	if keys, err := mountKeys(ctx, r.vc, mount); err == nil {
		out.KeysBefore = keys
	} else {
		r.logf("garbage: mount keys not counted: %v", err)
	}
	kinds := []struct {
		name string
		make func(i int) ([]byte, error)
	}{
		// Random bytes as long as a real proof, for a real client: the
		// cheapest request to make.
		{"garbage-random", func(i int) ([]byte, error) {
			b, _, _, err := valid[i%c].body()
			if err != nil {
				return nil, err
			}
			var m map[string]string
			if err := json.Unmarshal(b, &m); err != nil {
				return nil, err
			}
			raw := make([]byte, len(m["proof"])*3/4)
			rand.Read(raw)
			m["proof"] = protocolEncode(raw)
			return json.Marshal(m)
		}},
		// A well-formed proof sealed to the real server key for a client
		// that does not exist: the server opens it before it can tell.
		{"garbage-unknown-client", func(i int) ([]byte, error) {
			g := *victims[i%c]
			g.clientID = fmt.Sprintf("no-such-client-%d", i)
			g.entropy = randomBytes(len(g.entropy))
			b, _, _, err := g.body()
			return b, err
		}},
		// A well-formed proof for a real client with the wrong entropy:
		// the full verification, failing at the digest (the role has no
		// lockout, so the client stays usable).
		{"garbage-wrong-entropy", func(i int) ([]byte, error) {
			g := *victims[i%c]
			g.entropy = randomBytes(len(g.entropy))
			b, _, _, err := g.body()
			return b, err
		}},
	}
	for _, k := range kinds {
		bodies := make([][]byte, cfg.Logins)
		for i := range bodies {
			if bodies[i], err = k.make(i); err != nil {
				return nil, err
			}
		}
		g := r.phase("garbage", k.name, "", c, cfg.Logins, bodiesRequest(path, bodies, func(i int) int { return i }), expectRefusal, 0).run(ctx, r.h, r.pid)
		r.logResult(g)
		out.Phases = append(out.Phases, g)
	}
	if out.KeysBefore != nil {
		if keys, err := mountKeys(ctx, r.vc, mount); err == nil {
			out.KeysAfter = keys
		}
	}
	return out, nil
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// protocolEncode encodes garbage the way proofs are encoded (unpadded
// base64url), so that it passes the alphabet check and reaches the decoder.
func protocolEncode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
