package load

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/proc"
)

// perfRecorder records each timed phase with `perf record` (Config.PerfDir),
// so that a profile of Vault and of each plugin process can be read phase
// by phase: `perf report -i DIR/<phase>.data --pid <pid>` with the PIDs of
// DIR/pids.txt. Both Vault and the plugins are Go binaries built with frame
// pointers, so -g gives whole call stacks.
type perfRecorder struct {
	dir      string
	vaultPID int
}

// start begins recording every CPU of the machine for the phase named name
// (perf's -a, so that threads Go starts during the phase are not missed)
// and returns the function that ends it. A recording that cannot start is
// reported and the phase runs unprofiled: a profile is a diagnosis, not a
// figure of the run.
func (p *perfRecorder) start(ctx context.Context, name string, logf func(string, ...any)) func() {
	if p == nil || p.dir == "" {
		return func() {}
	}
	if err := p.writePIDs(); err != nil {
		logf("perf: %v", err)
	}
	out := filepath.Join(p.dir, name+".data")
	cmd := exec.CommandContext(ctx, "perf", "record", "-q", "-a", "-g", "-e", "cpu-clock", "-F", "999", "-o", out)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Start(); err != nil {
		logf("perf: %s not profiled: %v", name, err)
		return func() {}
	}
	// perf needs a moment to open its events on every CPU.
	time.Sleep(300 * time.Millisecond)
	return func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		// perf ends on the SIGINT it was sent, having written its file.
		var exit *exec.ExitError
		if err := cmd.Wait(); err != nil && !(errors.As(err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGINT) {
			logf("perf: recording %s: %v", name, err)
		}
	}
}

// writePIDs writes the PIDs of Vault and of each of its plugin processes,
// by program name, to DIR/pids.txt (plugins are started lazily, so it is
// written again before every phase).
func (p *perfRecorder) writePIDs() error {
	var b strings.Builder
	fmt.Fprintf(&b, "%d vault\n", p.vaultPID)
	for _, child := range proc.Children(p.vaultPID) {
		name, err := proc.Program(child.PID)
		if err != nil {
			name = child.Comm
		}
		fmt.Fprintf(&b, "%d %s\n", child.PID, name)
	}
	return os.WriteFile(filepath.Join(p.dir, "pids.txt"), []byte(b.String()), 0o644)
}
