package harness

import (
	"slices"
	"testing"
)

func TestStorageList(t *testing.T) {
	storage := map[string]string{
		"config":            "a",
		"client/web/alice":  "b",
		"entropy/web/a/1":   "c",
		"entropy/web/a/2":   "d",
		"entropy/web/a/x/3": "e",
		"entropy/web/ab/1":  "f",
	}
	for _, tc := range []struct {
		dir  string
		want []string
	}{
		{"", []string{"client/", "config", "entropy/"}},
		{"entropy/web/a/", []string{"1", "2", "x/"}},
		{"entropy/web/", []string{"a/", "ab/"}},
		{"nothing/", nil},
	} {
		if got := StorageList(storage, tc.dir); !slices.Equal(got, tc.want) {
			t.Errorf("StorageList(%q) = %q, want %q", tc.dir, got, tc.want)
		}
	}
}
