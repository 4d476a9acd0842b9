package load

import (
	"io"
	"time"
)

// Config is one run. FullConfig is the measurement; QuickConfig a short run
// for development.
type Config struct {
	// Sweep is the list of concurrencies of the login sweep.
	Sweep []int
	// Logins is the number of logins of each timed phase (shared among
	// its workers); PhaseTimeout bounds a phase's time. Proofs are made
	// before a phase, and the server refuses proofs older than its
	// allowed_clock_skew (60 s by default), so PhaseTimeout stays below it.
	Logins       int
	PhaseTimeout time.Duration
	// TokenTTL is the token_ttl of every role of every method: short, so
	// that the soak's tokens do not pile up. No token is revoked during a
	// timed phase: the harness revokes a phase's service tokens after it
	// (revokeLogins), so that none expires in a later phase.
	TokenTTL string
	// InlineProofs makes each entropy proof inside the timed window.
	InlineProofs bool
	// CompareVersion1 runs, right after each entropy phase of the sweep,
	// the same phase with proofs of protocol version 1 (whose payload
	// carries the ranges, docs/protocol.md §7): the before and after of
	// taking the ranges off the wire, on the same server and clients.
	CompareVersion1 bool `json:",omitempty"`
	// KeySuite, when set, is the entropy mounts' key_suite (config),
	// written before any client enrolls.
	KeySuite string `json:",omitempty"`
	// PerfDir, when set, is where each timed phase is recorded with
	// `perf record -a -g` (perf.go): a diagnosis, the figures of a
	// profiled run are not the published ones.
	PerfDir string `json:",omitempty"`

	// ClientsSmall and Clients are the two populations of the per-login
	// cost comparison (role "scale", entropy_size 4096); Clients = 0 skips
	// it. ScaleConcurrency is its login concurrency; EnrollConcurrency how
	// many enrollments run at once.
	ClientsSmall      int
	Clients           int
	ScaleConcurrency  int
	EnrollConcurrency int

	// RotationRate is the target of background rotations per second
	// (167/s rotates 100,000 clients every 10 minutes) over a population
	// of RotationPopulation clients of a role with rotation_period 1s;
	// RotationWorkers run them. RotationConcurrency is the login load's
	// concurrency; RotationLoginRate its rate in logins/s (0: half of the
	// rate the sweep measured for entropy service-token logins at that
	// concurrency, so that the server is not saturated and p99 measures
	// interference rather than queueing). RotationRate = 0 skips it.
	RotationRate        float64
	RotationPopulation  int
	RotationWorkers     int
	RotationConcurrency int
	RotationLoginRate   float64
	// RotationTokenType is the token type of the rotated clients' role
	// (service, the default, or batch: a rotation without Vault's token
	// store writes, to see the plugin's share of its cost).
	RotationTokenType string

	// GarbageConcurrency is the concurrency of the garbage flood (0
	// skips it); each kind sends Logins requests.
	GarbageConcurrency int

	// Soak: how long, how many workers, how often to sample, and the
	// background rotation rate during it (0: none).
	Soak             time.Duration
	SoakConcurrency  int
	SoakSample       time.Duration
	SoakRotationRate float64
	SoakTokenType    string

	// Progress receives one line per step (nil: none). Never secrets.
	Progress io.Writer `json:"-"`
}

// FullConfig is the measurement the published figures come from.
func FullConfig() Config {
	return Config{
		Sweep:               []int{1, 2, 4, 8, 16, 32},
		Logins:              4000,
		PhaseTimeout:        45 * time.Second,
		TokenTTL:            "1m",
		ClientsSmall:        1000,
		Clients:             100000,
		ScaleConcurrency:    8,
		EnrollConcurrency:   16,
		RotationRate:        167,
		RotationPopulation:  2000,
		RotationWorkers:     16,
		RotationConcurrency: 8,
		GarbageConcurrency:  8,
		SoakConcurrency:     16,
		SoakSample:          30 * time.Second,
		SoakRotationRate:    20,
		SoakTokenType:       "service",
		RotationTokenType:   "service",
	}
}

// QuickConfig is a short run (a couple of minutes) to try the harness.
func QuickConfig() Config {
	c := FullConfig()
	c.Sweep = []int{1, 4, 16}
	c.Logins = 600
	c.ClientsSmall = 100
	c.Clients = 1000
	c.RotationRate = 20
	c.RotationPopulation = 100
	c.RotationWorkers = 4
	c.SoakSample = 10 * time.Second
	c.SoakRotationRate = 5
	return c
}
