package protocol

import (
	"math"
	"testing"
)

// TestClientVersion: a client builds the newest version both it and its
// server read, and never a version outside [MinVersion, Version] whatever
// a bundle or receipt says.
func TestClientVersion(t *testing.T) {
	for _, tc := range []struct {
		reads int
		want  uint8
	}{
		{0, 1},                        // absent: version 1
		{-1, 1},                       // refused elsewhere; never below 1 here
		{math.MinInt, 1},              // no wrap-around
		{1, 1},                        // a server that reads only version 1
		{int(Version), Version},       // the newest both speak
		{int(Version) + 1, Version},   // a newer server: this package's newest
		{256 + int(Version), Version}, // not truncated to a byte before the clamp
		{math.MaxInt, Version},
	} {
		if got := ClientVersion(tc.reads); got != tc.want {
			t.Errorf("ClientVersion(%d) = %d, want %d", tc.reads, got, tc.want)
		}
	}
}
