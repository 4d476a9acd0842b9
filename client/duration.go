package client

import (
	"math"
	"time"
)

// maxSeconds is the longest time.Duration in whole seconds (about 292
// years).
const maxSeconds = math.MaxInt64 / int64(time.Second)

// Seconds is a lease or TTL in seconds, as Vault sends them, as a
// time.Duration: negative values are 0, and values beyond time.Duration's
// range (a broken or hostile server's 1<<62) are its largest whole second,
// rather than a product that overflows into the past.
func Seconds(n int) time.Duration {
	switch {
	case n <= 0:
		return 0
	case int64(n) > maxSeconds:
		return time.Duration(maxSeconds) * time.Second
	}
	return time.Duration(n) * time.Second
}
