package adversarial

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/harness"
)

// clockTick is Linux's USER_HZ, the unit of utime and stime in
// /proc/PID/stat: 100 on every architecture Go supports on Linux.
const clockTick = 10 * time.Millisecond

// vaultPID is the server's pid, which scripts/vault-server.sh keeps in
// DIR/vault.pid.
func vaultPID(t testing.TB, s *harness.Server) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Dir, "vault.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("vault.pid: %v", err)
	}
	return pid
}

// procStat returns a process's parent pid, its command name and the CPU
// time it has used (user + system). ok is false if it is gone.
func procStat(pid int) (ppid int, comm string, cpu time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", 0, false
	}
	// pid (comm) state ppid ... ; comm may hold spaces and parentheses.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return 0, "", 0, false
	}
	fields := strings.Fields(s[end+1:]) // fields[0] is field 3 (state)
	if len(fields) < 13 {
		return 0, "", 0, false
	}
	ppid, _ = strconv.Atoi(fields[1])
	utime, _ := strconv.ParseInt(fields[11], 10, 64) // field 14
	stime, _ := strconv.ParseInt(fields[12], 10, 64) // field 15
	return ppid, s[open+1 : end], time.Duration(utime+stime) * clockTick, true
}

// pluginPID finds the plugin process Vault started: a child of the server
// whose command name is the plugin binary's (cut to 15 bytes by Linux).
// It fails the test if there is not exactly one.
func pluginPID(t testing.TB, s *harness.Server) int {
	t.Helper()
	parent := vaultPID(t, s)
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ppid, comm, _, ok := procStat(pid)
		if ok && ppid == parent && comm != "" && strings.HasPrefix("vault-plugin-auth-entropy", comm) {
			found = append(found, pid)
		}
	}
	if len(found) != 1 {
		t.Fatalf("want one plugin process under Vault (pid %d), found %v", parent, found)
	}
	return found[0]
}

// cpuTime is the CPU time used so far by Vault and by the plugin.
func (e *env) cpuTime(t testing.TB) (vault, plugin time.Duration) {
	t.Helper()
	_, _, vault, ok := procStat(vaultPID(t, e.Server))
	if !ok {
		t.Fatal("Vault's process is gone")
	}
	_, _, plugin, ok = procStat(e.pluginPID)
	if !ok {
		t.Fatal("the plugin process is gone")
	}
	return vault, plugin
}
