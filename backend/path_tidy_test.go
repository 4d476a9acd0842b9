package backend

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

// waitTidy waits for the background tidy to finish and returns its status.
func waitTidy(t *testing.T, b *entropyBackend, s logical.Storage) map[string]interface{} {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if !b.tidyState.running.Load() {
			return mustOK(t, b, s, logical.ReadOperation, "tidy/status", nil).Data
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("tidy did not finish")
	return nil
}

func TestTidyEndpoint(t *testing.T) {
	b, s := getTestBackend(t)
	checkFields(t, mustOK(t, b, s, logical.ReadOperation, "tidy/status", nil).Data, map[string]interface{}{
		"state": "idle", "started_at": "", "finished_at": "", "entropy_deleted": 0, "error": "",
	})
	clock := useClock(b)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"client_ttl": "1s"})
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	abandonEntropy(t, s, "x")
	// a's client_ttl runs out. The clock stays still from here on: the
	// tidy reads it from another goroutine.
	clock.advance(time.Second)

	resp := mustOK(t, b, s, logical.UpdateOperation, "tidy", nil)
	if resp.Data[logical.HTTPStatusCode] != http.StatusAccepted {
		t.Fatalf("tidy answered %v", resp.Data)
	}
	st := waitTidy(t, b, s)
	checkFields(t, st, map[string]interface{}{
		"state": "finished", "entropy_deleted": 1, "clients_deleted": 1, "error": "",
	})
	if st["started_at"] == "" || st["finished_at"] == "" {
		t.Fatalf("status %v", st)
	}
	if c, _ := b.client(context.Background(), s, "web", "a"); c != nil {
		t.Fatal("expired client left")
	}
}

func TestTidyOneAtATime(t *testing.T) {
	b, s := getTestBackend(t)
	// As if a tidy were running.
	b.tidyState.running.Store(true)
	before := storageSnapshot(t, s)
	resp := mustOK(t, b, s, logical.UpdateOperation, "tidy", nil)
	if len(resp.Warnings) == 0 || resp.Data[logical.HTTPStatusCode] == http.StatusAccepted {
		t.Fatalf("second tidy: %#v", resp)
	}
	if _, err := b.tidy(context.Background(), s); !errors.Is(err, errTidyRunning) {
		t.Fatalf("tidy beside a running one: %v", err)
	}
	if err := b.periodicFunc(context.Background(), &logical.Request{Storage: s}); err != nil {
		t.Fatal(err)
	}
	if st := b.tidyState.getStatus(); st.State != tidyStateIdle {
		t.Fatalf("status %+v", st)
	}
	if !equalSnapshots(before, storageSnapshot(t, s)) {
		t.Fatal("storage changed")
	}
	b.tidyState.running.Store(false)
	mustOK(t, b, s, logical.UpdateOperation, "tidy", nil)
	if st := waitTidy(t, b, s); st["state"] != "finished" {
		t.Fatalf("status %v", st)
	}
}

func TestTidyEndpointOnAReadOnlyNode(t *testing.T) {
	for name, sys := range map[string]*logical.StaticSystemView{
		"performance standby":   {ReplicationStateVal: consts.ReplicationPerformanceStandby},
		"performance secondary": {ReplicationStateVal: consts.ReplicationPerformanceSecondary},
	} {
		t.Run(name, func(t *testing.T) {
			b, s := getTestBackendWithSystem(t, sys)
			if _, err := request(t, b, s, logical.UpdateOperation, "tidy", nil); err != logical.ErrReadOnly {
				t.Fatalf("err = %v, want ErrReadOnly (Vault forwards it)", err)
			}
			if b.tidyState.running.Load() {
				t.Fatal("tidy started")
			}
		})
	}
}

// getTestBackendWithSystem is getTestBackend with the given system view
// (replication state, local mount).
func getTestBackendWithSystem(t testing.TB, sys *logical.StaticSystemView) (*entropyBackend, logical.Storage) {
	t.Helper()
	conf := logical.TestBackendConfig()
	conf.StorageView = &logical.InmemStorage{}
	conf.System = sys
	return newTestBackend(t, conf), conf.StorageView
}
