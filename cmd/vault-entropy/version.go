package main

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/entropy-auth/vault-plugin-auth-entropy/internal/buildinfo"
)

const versionHelp = `Usage: vault-entropy version [-format=table|json]

Prints the version and commit this binary was built from, with the Go version
and platform. A release build's version is the repository's VERSION file.

`

// versionCommand is `vault-entropy version`.
type versionCommand struct{ *baseCommand }

func (c *versionCommand) help() string { return versionHelp }

func (c *versionCommand) defineFlags() { c.flagSet(flagSetFormat) }

// versionInfo is what -format=json prints.
type versionInfo struct {
	Version  string `json:"version"`
	Commit   string `json:"commit"`
	Go       string `json:"go"`
	Platform string `json:"platform"`
}

func (c *versionCommand) run(context.Context) error {
	v := versionInfo{
		Version:  buildinfo.Version(),
		Commit:   buildinfo.Commit(),
		Go:       runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	return c.output(v, func(w io.Writer) error {
		_, err := fmt.Fprintf(w, "vault-entropy %s commit %s %s %s\n", v.Version, v.Commit, v.Go, v.Platform)
		return err
	})
}
