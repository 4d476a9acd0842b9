package backend

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/vault/sdk/helper/consts"
	"github.com/hashicorp/vault/sdk/logical"
)

func periodic(t *testing.T, b *entropyBackend, s logical.Storage) {
	t.Helper()
	if err := b.periodicFunc(context.Background(), &logical.Request{Storage: s}); err != nil {
		t.Fatal(err)
	}
}

func currentKey(t *testing.T, s logical.Storage) *keyring {
	t.Helper()
	kr, err := readKeyring(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestPeriodicRotatesServerKey(t *testing.T) {
	b, s := getTestBackend(t)
	clock := useClock(b)

	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_rotation_period": "1h"})
	first := mustOK(t, b, s, logical.ReadOperation, "keys", nil).Data["current_key_id"]
	clock.advance(time.Hour - time.Second)
	periodic(t, b, s)
	if kr := currentKey(t, s); kr.Keys[0].ID != first || len(kr.Keys) != 1 {
		t.Fatal("rotated before the period")
	}
	clock.advance(time.Second)
	periodic(t, b, s)
	kr := currentKey(t, s)
	if kr.Keys[0].ID == first || kr.Keys[1].ID != first || !kr.Keys[1].RetiredAt.Equal(clock.now().UTC()) {
		t.Fatalf("not rotated at the period: %v", kr.Keys)
	}
	// Once per period, not at every run.
	second := kr.Keys[0].ID
	clock.advance(time.Minute)
	periodic(t, b, s)
	if currentKey(t, s).Keys[0].ID != second {
		t.Fatal("rotated twice in a period")
	}
	// An operator's rotation restarts the period.
	clock.advance(59*time.Minute - time.Second)
	third := mustOK(t, b, s, logical.UpdateOperation, "keys/rotate", nil).Data["current_key_id"]
	clock.advance(time.Second)
	periodic(t, b, s)
	if kr := currentKey(t, s); kr.Keys[0].ID != third || kr.Keys[1].ID != second {
		t.Fatal("periodic rotated right after keys/rotate, dropping a key in its grace period")
	}

	// key_rotation_period 0 disables it.
	mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_rotation_period": 0})
	clock.advance(1000 * time.Hour)
	periodic(t, b, s)
	if currentKey(t, s).Keys[0].ID != third {
		t.Fatal("rotated with key_rotation_period 0")
	}
}

func TestPeriodicRunsOnlyWhereItCanWrite(t *testing.T) {
	cases := map[string]struct {
		sys  *logical.StaticSystemView
		runs bool
	}{
		"primary":                      {&logical.StaticSystemView{}, true},
		"performance standby":          {&logical.StaticSystemView{ReplicationStateVal: consts.ReplicationPerformanceStandby}, false},
		"performance secondary":        {&logical.StaticSystemView{ReplicationStateVal: consts.ReplicationPerformanceSecondary}, false},
		"performance secondary, local": {&logical.StaticSystemView{ReplicationStateVal: consts.ReplicationPerformanceSecondary, LocalMountVal: true}, true},
		"performance standby, local":   {&logical.StaticSystemView{ReplicationStateVal: consts.ReplicationPerformanceStandby, LocalMountVal: true}, false},
		"primary with a standby":       {&logical.StaticSystemView{ReplicationStateVal: consts.ReplicationPerformancePrimary}, true},
		"disaster-recovery secondary":  {&logical.StaticSystemView{ReplicationStateVal: consts.ReplicationDRSecondary}, false},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			b, s := getTestBackendWithSystem(t, tc.sys)
			clock := useClock(b)
			mustOK(t, b, s, logical.UpdateOperation, "config", map[string]interface{}{"key_rotation_period": "1h"})
			if _, err := b.keyring(context.Background(), s); err != nil {
				t.Fatal(err)
			}
			abandonEntropy(t, s, "x")
			clock.advance(2 * time.Hour)
			before := storageSnapshot(t, s)
			periodic(t, b, s)
			changed := !equalSnapshots(before, storageSnapshot(t, s))
			if changed != tc.runs {
				t.Fatalf("storage changed: %v, want %v", changed, tc.runs)
			}
			if ran := b.tidyState.getStatus().State != tidyStateIdle; ran != tc.runs {
				t.Fatalf("tidy ran: %v, want %v", ran, tc.runs)
			}
		})
	}
}

func TestPeriodicTidyInterval(t *testing.T) {
	b, s := getTestBackend(t)
	clock := useClock(b)
	mustOK(t, b, s, logical.UpdateOperation, "role/web", map[string]interface{}{"client_ttl": "1m"})

	// The first run tidies everything.
	periodic(t, b, s)
	first := b.tidyState.getStatus()
	if first.State != tidyStateFinished {
		t.Fatalf("status %+v", first)
	}
	// Within the hour nothing is tidied: an expired client stays.
	enroll(t, b, s, "web", map[string]interface{}{"client_id": "a"})
	clock.advance(30 * time.Minute)
	periodic(t, b, s)
	if c, _ := b.client(context.Background(), s, "web", "a"); c == nil {
		t.Fatal("tidy within the interval")
	}
	if st := b.tidyState.getStatus(); st.StartedAt != first.StartedAt {
		t.Fatal("a second tidy within the interval")
	}
	// After the interval, everything again.
	clock.advance(30 * time.Minute)
	periodic(t, b, s)
	if c, _ := b.client(context.Background(), s, "web", "a"); c != nil {
		t.Fatal("expired client not tidied after the interval")
	}
	if st := b.tidyState.getStatus(); st.Result.ClientsDeleted != 1 {
		t.Fatalf("status %+v", st)
	}
}

func TestPeriodicOneAtATime(t *testing.T) {
	b, s := getTestBackend(t)
	clock := useClock(b)
	abandonEntropy(t, s, "x")
	clock.advance(time.Hour)
	b.periodicState.running.Store(true)
	periodic(t, b, s)
	if abandoned(t, s) != 1 {
		t.Fatal("a second periodic run overlapped the first")
	}
	b.periodicState.running.Store(false)
	periodic(t, b, s)
	if abandoned(t, s) != 0 {
		t.Fatal("periodic run did not tidy")
	}
}

func TestCleanupStopsBackgroundWork(t *testing.T) {
	b, _ := getTestBackend(t)
	b.Cleanup(context.Background())
	if b.bgCtx.Err() == nil {
		t.Fatal("background context alive after Cleanup")
	}
}
