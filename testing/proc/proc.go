// Package proc reads the little that the end-to-end tests and the load
// program need from Linux's /proc: a process's state, parent, command name
// and CPU time, its children, and the pid files the scripts write. It is
// the one parser of /proc/PID/stat, whose command name may hold spaces and
// parentheses.
package proc

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Stat is the part of /proc/PID/stat the tests use.
type Stat struct {
	PID   int
	Comm  string // the command name, cut to 15 bytes by Linux
	State string // "R", "S", "D", "Z" (exited, not yet reaped), ...
	PPID  int
	CPU   time.Duration // user + system time so far
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/PID/stat: 100
// per second on every architecture Go supports on Linux.
const clockTick = 10 * time.Millisecond

// ErrMalformed is returned for a stat line that does not parse.
var ErrMalformed = errors.New("proc: malformed /proc/PID/stat")

// ReadStat reads /proc/PID/stat. A process that is gone gives an error
// that matches fs.ErrNotExist.
func ReadStat(pid int) (Stat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Stat{}, err
	}
	return parseStat(pid, string(b))
}

// parseStat parses "PID (COMM) STATE PPID ... UTIME STIME ...": COMM runs
// from the first "(" to the last ")", and the fields after it are counted
// from 3 (state) on.
func parseStat(pid int, s string) (Stat, error) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return Stat{}, ErrMalformed
	}
	f := strings.Fields(s[end+1:]) // f[0] is field 3
	if len(f) < 13 {
		return Stat{}, ErrMalformed
	}
	ppid, err1 := strconv.Atoi(f[1])               // field 4
	utime, err2 := strconv.ParseInt(f[11], 10, 64) // field 14
	stime, err3 := strconv.ParseInt(f[12], 10, 64) // field 15
	if err := errors.Join(err1, err2, err3); err != nil {
		return Stat{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return Stat{PID: pid, Comm: s[open+1 : end], State: f[0], PPID: ppid, CPU: time.Duration(utime+stime) * clockTick}, nil
}

// Children returns the processes whose parent is pid (those whose stat
// could be read: a process may end while the list is read).
func Children(pid int) []Stat {
	entries, _ := os.ReadDir("/proc")
	var out []Stat
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, err := ReadStat(child); err == nil && st.PPID == pid {
			out = append(out, st)
		}
	}
	return out
}

// Program is the base name of the file a process runs (the first word of
// /proc/PID/cmdline): whole, unlike Stat.Comm, so that plugins whose names
// share their first 15 bytes can be told apart.
func Program(pid int) (string, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return "", err
	}
	argv0, _, _ := strings.Cut(string(b), "\x00")
	if argv0 == "" {
		return "", fmt.Errorf("proc: process %d has no command line", pid)
	}
	return filepath.Base(argv0), nil
}

// ReadPIDFile reads a pid file: a decimal pid on its first line
// (vault.pid and minio.pid as the scripts write them, PostgreSQL's
// postmaster.pid).
func ReadPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: no pid on the first line", path)
	}
	return pid, nil
}
