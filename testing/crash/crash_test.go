package crash

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/backend/protocol"
	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// RoundsEnv sets the number of rounds (default 8).
const RoundsEnv = "ENTROPY_CRASH_ROUNDS"

const (
	mount = "entropy"
	role  = "crash"
)

func rounds(t *testing.T) int {
	t.Helper()
	v := os.Getenv(RoundsEnv)
	if v == "" {
		return 8
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a number of rounds, at least 1", RoundsEnv, v)
	}
	return n
}

func TestCrashDuringRotation(t *testing.T) {
	harness.Integration(t)
	n := rounds(t)
	s := harness.StartServer(t)
	s.EnablePlugin(t, mount)
	// 1 s, the minimum: a login more than a second after the last rotation
	// rotates, so nearly every login of the test does.
	s.Write(t, "auth/"+mount+"/role/"+role, map[string]interface{}{
		"token_type": "batch", "token_ttl": "5m", "rotation_period": "1s",
	})
	victim := newClient(t, s, "victim")
	bystander := newClient(t, s, "bystander")
	victim.login(t, s)
	bystander.login(t, s)

	// The client's kill delay is drawn within its usual run time.
	runTime := cliRunTime(t, s, victim)
	t.Logf("vault-entropy login runs in about %s here", runTime.Round(time.Millisecond))

	landed := map[string]int{}
	start := time.Now()
	for r := range n {
		// Past the rotation period: this round's logins rotate.
		time.Sleep(1100 * time.Millisecond)
		if r%2 == 0 {
			landed[killClient(t, s, victim, runTime)]++
		} else {
			killServer(t, s, victim, bystander)
			landed["server killed"]++
		}
		victim.check(t, s, r)
		bystander.check(t, s, r)
	}
	elapsed := time.Since(start)
	windows := strings.Count(s.Log(t), protocol.ErrProofPredatesWindow.Error())
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range landed {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		t.Logf("rounds: %s: %d", k, landed[k])
	}
	t.Logf("%d rounds in %.1f s (%.2f s a round); %d proofs refused with the named \"make a new proof\" and retried; victim at generation %d, bystander at %d",
		n, elapsed.Seconds(), elapsed.Seconds()/float64(n), windows, victim.generation, bystander.generation)
}

// cliRunTime runs vault-entropy login three times (each rotates) and returns
// the median run time.
func cliRunTime(t *testing.T, s *harness.Server, c *crashClient) time.Duration {
	t.Helper()
	var times []time.Duration
	for range 3 {
		time.Sleep(1100 * time.Millisecond)
		begin := time.Now()
		if _, err := s.CLI(t, nil, "", "login", "-state", c.state); err != nil {
			t.Fatalf("vault-entropy login: %v", err)
		}
		times = append(times, time.Since(begin))
		c.check(t, s, -1)
	}
	slices.Sort(times)
	return times[1]
}

// killClient runs vault-entropy login and kills it with SIGKILL after a
// random delay within 1.2 times its usual run time, and says where the kill
// landed, read from the state file and the server's record.
func killClient(t *testing.T, s *harness.Server, c *crashClient, runTime time.Duration) string {
	t.Helper()
	_, cli := harness.Binaries(t)
	cmd := exec.Command(cli, "login", "-state", c.state)
	// Its output holds a token: discarded, never logged.
	cmd.Env = append(os.Environ(), "VAULT_ADDR="+s.Addr, "VAULT_TOKEN=")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	delay := rand.N(runTime * 6 / 5)
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("vault-entropy login failed on its own: %v", err)
		}
		return "client finished before the kill"
	case <-time.After(delay):
	}
	cmd.Process.Kill()
	<-done
	return "client killed: " + c.where(t, s)
}

// killServer runs logins of both clients in a loop and kills Vault with
// SIGKILL at a random moment among them, then starts it again.
func killServer(t *testing.T, s *harness.Server, clients ...*crashClient) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, c := range clients {
		// A clone per client, made here: Kill replaces s.Client (the
		// address stays the same).
		vc, err := s.Client.Clone()
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			for ctx.Err() == nil {
				// Errors are expected while the server is down; the checks
				// after the round judge the outcome.
				if _, err := vc.Auth().Login(ctx, c.auth); err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	time.Sleep(rand.N(1500 * time.Millisecond))
	s.Kill(t)
	time.Sleep(500 * time.Millisecond)
	cancel()
	wg.Wait()
}
