package load

import (
	"context"
	"os"
	"runtime"
	"strings"

	"github.com/hashicorp/vault/api"
)

// Hardware is what the figures were measured on.
type Hardware struct {
	CPUModel      string `json:"cpu_model"`
	Cores         int    `json:"cores"`
	MemoryMB      int64  `json:"memory_mb"`
	Go            string `json:"go"`
	Vault         string `json:"vault"`
	PluginVersion string `json:"plugin_version"`
	Storage       string `json:"storage"`
}

func hardware(ctx context.Context, vc *api.Client, mount string) Hardware {
	h := Hardware{Go: runtime.Version(), Storage: "raft, single node, loopback"}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			switch strings.TrimSpace(k) {
			case "processor":
				h.Cores++
			case "model name":
				if h.CPUModel == "" {
					h.CPUModel = strings.TrimSpace(v)
				}
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				var kb int64
				for _, c := range strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")) {
					kb = kb*10 + int64(c-'0')
				}
				h.MemoryMB = kb >> 10
			}
		}
	}
	if st, err := vc.Sys().SealStatusWithContext(ctx); err == nil {
		h.Vault = st.Version
	}
	if auths, err := vc.Sys().ListAuthWithContext(ctx); err == nil {
		if m, ok := auths[mount+"/"]; ok {
			h.PluginVersion = m.RunningVersion
		}
	}
	return h
}
