package load

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/entropy-auth/vault-plugin-auth-entropy/testing/proc"
)

// Target is the Vault server under load: its address, root token and the
// directory scripts/vault-server.sh runs it in (DIR/vault.pid, DIR/data).
type Target struct {
	Addr      string
	RootToken string
	Dir       string
	// Mount is the entropy mount (default "entropy").
	Mount string
	// Floor and Baseline are the mounts of the floor plugin and of the
	// baseline entropy build (plugins.go); empty when not mounted.
	Floor, Baseline string
}

func (t *Target) mount() string {
	if t.Mount == "" {
		return "entropy"
	}
	return t.Mount
}

// api returns a root client that never wraps responses.
func (t *Target) api() (*api.Client, error) {
	conf := api.DefaultConfig()
	if conf.Error != nil {
		return nil, conf.Error
	}
	conf.Address = t.Addr
	conf.MaxRetries = 0
	c, err := api.NewClient(conf)
	if err != nil {
		return nil, err
	}
	c.SetToken(t.RootToken)
	c.ClearNamespace()
	c.SetWrappingLookupFunc(func(string, string) string { return "" })
	return c, nil
}

// VaultPID is the server's pid, from DIR/vault.pid.
func (t *Target) VaultPID() (int, error) {
	return proc.ReadPIDFile(filepath.Join(t.Dir, "vault.pid"))
}

// CPU is CPU time spent by the server process, by each of its plugin
// processes (its children: one per plugin binary, keyed by program name;
// AppRole is built into Vault) and by this load generator.
type CPU struct {
	Vault, Self time.Duration
	Plugins     map[string]time.Duration
}

// Plugin is the CPU time of every plugin process together.
func (c CPU) Plugin() time.Duration {
	var sum time.Duration
	for _, d := range c.Plugins {
		sum += d
	}
	return sum
}

func (c CPU) sub(d CPU) CPU {
	out := CPU{Vault: c.Vault - d.Vault, Self: c.Self - d.Self, Plugins: map[string]time.Duration{}}
	for name, t := range c.Plugins {
		out.Plugins[name] = t - d.Plugins[name]
	}
	return out
}

// cpuNow reads CPU for vault pid and its children. Plugin processes that
// ended between two reads would make the difference negative; the plugins
// are not restarted during a run.
func cpuNow(vaultPID int) CPU {
	c := CPU{Plugins: map[string]time.Duration{}}
	if vaultPID > 0 {
		if st, err := proc.ReadStat(vaultPID); err == nil {
			c.Vault = st.CPU
		}
		for _, child := range proc.Children(vaultPID) {
			name, err := proc.Program(child.PID)
			if err != nil {
				name = child.Comm
			}
			c.Plugins[name] += child.CPU
		}
	}
	if st, err := proc.ReadStat(os.Getpid()); err == nil {
		c.Self = st.CPU
	}
	return c
}

// rssBytes is a process's resident set size (VmRSS).
func rssBytes(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// dirSize sums the sizes of the regular files under dir (the raft data
// directory: raft.db, vault.db, snapshots).
func dirSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// StartVault starts a server in dir with scripts/vault-server.sh (log level
// logLevel, sys/raw enabled so that the mount's keys can be counted),
// registers and enables the plugin at auth/entropy with
// scripts/register-plugin.sh and each of extra at its own mount, and
// returns it with a function that stops it.
func StartVault(ctx context.Context, repo, dir, vaultBin, pluginBin, logLevel string, extra ...ExtraPlugin) (*Target, func() error, error) {
	env := append(os.Environ(), "VAULT_BIN="+vaultBin, "VAULT_LOG_LEVEL="+logLevel, "VAULT_RAW_STORAGE=1")
	run := func(ctx context.Context, name string, args ...string) error {
		cmd := exec.CommandContext(ctx, filepath.Join(repo, "scripts", name), args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("scripts/%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
		}
		return nil
	}
	port, err := freePortPair()
	if err != nil {
		return nil, nil, err
	}
	// Stopping must work after ctx has ended (an interrupted run), so it
	// has a context of its own.
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		return run(sctx, "vault-server.sh", "stop", dir)
	}
	if err := run(ctx, "vault-server.sh", "start", dir, strconv.Itoa(port)); err != nil {
		stop()
		return nil, nil, err
	}
	if err := run(ctx, "register-plugin.sh", dir, pluginBin, "entropy"); err != nil {
		stop()
		return nil, nil, err
	}
	t := &Target{Dir: dir}
	b, err := os.ReadFile(filepath.Join(dir, "env"))
	if err != nil {
		stop()
		return nil, nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(strings.TrimPrefix(line, "export "), "=")
		v = strings.Trim(v, `'"`)
		switch k {
		case "VAULT_ADDR":
			t.Addr = v
		case "VAULT_TOKEN":
			t.RootToken = v
		}
	}
	if t.Addr == "" || t.RootToken == "" {
		stop()
		return nil, nil, fmt.Errorf("no VAULT_ADDR or VAULT_TOKEN in %s/env", dir)
	}
	if err := t.mountExtra(ctx, extra); err != nil {
		stop()
		return nil, nil, err
	}
	return t, stop, nil
}

// mountExtra registers and mounts the floor and baseline plugins of extra
// on t (MountExtra, for a server started otherwise).
func (t *Target) mountExtra(ctx context.Context, extra []ExtraPlugin) error {
	if len(extra) == 0 {
		return nil
	}
	vc, err := t.api()
	if err != nil {
		return err
	}
	for _, p := range extra {
		if err := registerPlugin(ctx, vc, t.Dir, p); err != nil {
			return err
		}
		switch p.Name {
		case FloorPlugin:
			t.Floor = p.Mount
		case BaselinePlugin:
			t.Baseline = p.Mount
		}
	}
	return nil
}

// MountExtra is mountExtra for a server the caller started.
func (t *Target) MountExtra(ctx context.Context, extra ...ExtraPlugin) error {
	return t.mountExtra(ctx, extra)
}

// freePortPair finds a loopback port whose successor (Vault's cluster
// port) is free too.
func freePortPair() (int, error) {
	for range 50 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		port := l.Addr().(*net.TCPAddr).Port
		l2, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port+1))
		l.Close()
		if err == nil {
			l2.Close()
			return port, nil
		}
	}
	return 0, errors.New("no free loopback port pair")
}
