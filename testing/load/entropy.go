package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/client"
)

// entropyClient is one enrolled client held in memory: the load generator
// needs no state file, no file lock and no fsync per login, which would cost
// it CPU and disk the server then lacks. It follows rotations as the client
// library does (see client.State.advance): prove the pending generation when
// there is one, and take up what the receipt hands over.
type entropyClient struct {
	mount, role, clientID string
	key                   *protocol.PublicKey

	generation uint64
	entropy    []byte
	sampling   protocol.Sampling
	pending    *protocol.Rotation
	// version is the proof version the server reads, as its bundle and
	// receipts say: the baseline build reads version 1 only.
	version uint8
}

func newEntropyClient(s *client.State) (*entropyClient, error) {
	var pk *protocol.PublishedKey
	for i := range s.ServerKeys {
		if pk == nil || s.ServerKeys[i].Current {
			pk = &s.ServerKeys[i]
		}
	}
	if pk == nil {
		return nil, errors.New("state has no server key")
	}
	key, err := pk.Parse()
	if err != nil {
		return nil, err
	}
	return &entropyClient{
		mount: s.MountPath, role: s.Role, clientID: s.ClientID, key: key,
		generation: s.Generation, entropy: s.Entropy,
		sampling: protocol.Sampling{Count: s.SampleCount, Length: s.SampleLength},
		version:  protocol.ClientVersion(s.ProofVersion),
	}, nil
}

func (c *entropyClient) loginPath() string { return c.mount + "/login" }

// proving is the generation the next proof proves.
func (c *entropyClient) proving() (uint64, []byte, protocol.Sampling) {
	if p := c.pending; p != nil {
		return p.Generation, p.Entropy, p.Sampling()
	}
	return c.generation, c.entropy, c.sampling
}

// body makes a fresh proof and the login request's JSON body.
func (c *entropyClient) body() ([]byte, *protocol.ClientSession, uint64, error) {
	gen, ent, smp := c.proving()
	proof, sess, err := protocol.NewProof(protocol.ProofInput{
		ServerKey: c.key, Role: c.role, ClientID: c.clientID,
		Generation: gen, Entropy: ent, Sampling: smp, IssuedAt: time.Now(), Version: c.version,
	})
	if err != nil {
		return nil, nil, 0, err
	}
	b, err := json.Marshal(map[string]string{"role": c.role, "client_id": c.clientID, "proof": proof})
	return b, sess, gen, err
}

// loginFollow logs in once and takes up what the receipt says: it reports
// whether the login promoted a pending generation (the second half of a
// rotation) and whether the receipt handed over a new one (the first half).
func (c *entropyClient) loginFollow(ctx context.Context, h *httpClient) (promoted, issued bool, err error) {
	body, sess, gen, err := c.body()
	if err != nil {
		return false, false, err
	}
	status, resp, err := h.post(ctx, c.loginPath(), body)
	if err != nil {
		return false, false, err
	}
	if err := expectToken(status, resp); err != nil {
		return false, false, err
	}
	r, err := sess.OpenReceipt(resp.Data.Receipt)
	if err != nil {
		return false, false, fmt.Errorf("receipt: %w", err)
	}
	c.version = protocol.ClientVersion(r.ProofVersion)
	if p := c.pending; p != nil && gen == p.Generation {
		c.generation, c.entropy, c.sampling = p.Generation, p.Entropy, p.Sampling()
		c.pending = nil
		promoted = true
	}
	if rot := r.Rotation; rot != nil {
		if rot.Generation != c.generation+1 {
			return promoted, false, fmt.Errorf("receipt issues generation %d after %d", rot.Generation, c.generation)
		}
		c.pending = rot
		issued = true
	}
	return promoted, issued, nil
}

// enroll enrolls n clients in role, enrollers at a time, without response
// wrapping (the bundle comes back in the clear: this is a loopback test
// server, and wrapping would double the requests). keep(i) says which
// clients to hold in memory; the others are only enrolled. It returns the
// kept clients and the time the enrollments took.
func enroll(ctx context.Context, vc *api.Client, mount, role string, n, enrollers int, keep func(i int) bool) ([]*entropyClient, time.Duration, error) {
	var (
		mu   sync.Mutex
		kept []*entropyClient
	)
	start := time.Now()
	err := forEach(ctx, n, enrollers, func(ctx context.Context, i int) error {
		c, err := enrollOne(ctx, vc, mount, role)
		if err != nil {
			return fmt.Errorf("enrollment %d in %s/role/%s: %w", i, mount, role, err)
		}
		if keep(i) {
			mu.Lock()
			kept = append(kept, c)
			mu.Unlock()
		}
		return nil
	})
	return kept, time.Since(start), err
}

func enrollOne(ctx context.Context, vc *api.Client, mount, role string) (*entropyClient, error) {
	secret, err := vc.Logical().WriteWithContext(ctx, mount+"/role/"+role+"/enroll", map[string]interface{}{})
	if err != nil {
		return nil, err
	}
	if secret == nil || secret.Data == nil {
		return nil, errors.New("no bundle in the response")
	}
	raw, err := json.Marshal(secret.Data)
	if err != nil {
		return nil, err
	}
	s, err := client.StateFromBundle(raw)
	if err != nil {
		return nil, err
	}
	return newEntropyClient(s)
}
