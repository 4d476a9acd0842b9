package main

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/hashicorp/go-hclog"
)

// The library's slog records reach the CLI's hclog lines at their level,
// with their attributes, one sanitized line each; below Info nothing.
func TestHclogHandler(t *testing.T) {
	var buf bytes.Buffer
	l := hclog.New(&hclog.LoggerOptions{Name: "login", Level: hclog.Info, Output: logLine{&buf}, DisableTime: true})
	log := slog.New(hclogHandler{l: l}).With("source", "env")
	log.Warn("cannot keep\x1b[2J it", "generation", 2)
	log.Info("info line")
	log.Debug("hidden")
	log.Error("bad")
	got := strings.Split(strings.TrimSpace(buf.String()), "\n")
	want := []string{"[WARN]  login: cannot keep", "[INFO]  login: info line", "[ERROR] login: bad"}
	if len(got) != len(want) {
		t.Fatalf("lines %q", got)
	}
	for i := range want {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Fatalf("line %d = %q, want prefix %q", i, got[i], want[i])
		}
	}
	if !strings.Contains(got[0], "source=env") || !strings.Contains(got[0], "generation=2") || strings.Contains(got[0], "\x1b") {
		t.Fatalf("line %q", got[0])
	}
}
