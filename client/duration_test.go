package client

import (
	"math"
	"testing"
	"time"
)

func TestSeconds(t *testing.T) {
	for _, tc := range []struct {
		in   int
		want time.Duration
	}{
		{0, 0},
		{-1, 0},
		{math.MinInt64, 0},
		{900, 900 * time.Second},
		{int(maxSeconds), time.Duration(maxSeconds) * time.Second},
		{int(maxSeconds) + 1, time.Duration(maxSeconds) * time.Second},
		{1 << 62, time.Duration(maxSeconds) * time.Second},
		{math.MaxInt64, time.Duration(maxSeconds) * time.Second},
	} {
		if got := Seconds(tc.in); got != tc.want || got < 0 {
			t.Errorf("Seconds(%d) = %s, want %s", tc.in, got, tc.want)
		}
	}
}
