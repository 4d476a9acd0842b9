package main

import (
	"context"
	"log/slog"

	"github.com/hashicorp/go-hclog"
)

// The library reports what it does not act on (what a read-only state
// cannot keep) through a log/slog logger; the CLI writes those notes
// through its own hclog loggers: the agent's log, or stderr for the other
// commands. hclogHandler is the bridge: each record becomes one hclog
// line at the matching level, with the record's attributes as hclog
// key-value pairs.
type hclogHandler struct {
	l     hclog.Logger
	attrs []interface{}
}

func (h hclogHandler) Enabled(_ context.Context, level slog.Level) bool {
	return h.l.IsTrace() || level >= slog.LevelInfo
}

func (h hclogHandler) Handle(_ context.Context, r slog.Record) error {
	args := append([]interface{}{}, h.attrs...)
	r.Attrs(func(a slog.Attr) bool {
		args = append(args, a.Key, a.Value.String())
		return true
	})
	h.l.Log(hclogLevel(r.Level), r.Message, args...)
	return nil
}

func (h hclogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	next := hclogHandler{l: h.l, attrs: append([]interface{}{}, h.attrs...)}
	for _, a := range attrs {
		next.attrs = append(next.attrs, a.Key, a.Value.String())
	}
	return next
}

func (h hclogHandler) WithGroup(name string) slog.Handler {
	return hclogHandler{l: h.l.Named(name), attrs: h.attrs}
}

func hclogLevel(l slog.Level) hclog.Level {
	switch {
	case l >= slog.LevelError:
		return hclog.Error
	case l >= slog.LevelWarn:
		return hclog.Warn
	case l >= slog.LevelInfo:
		return hclog.Info
	}
	return hclog.Debug
}
