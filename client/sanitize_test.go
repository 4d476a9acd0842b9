package client

import "testing"

func TestSanitizeText(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain", "permission denied", "permission denied"},
		{"UTF-8 kept", "clé refusée: 認証 ✓", "clé refusée: 認証 ✓"},
		{"CSI colour", "\x1b[31mred\x1b[0m", "[31mred[0m"},
		{"OSC title", "\x1b]0;owned\x07text", "]0;ownedtext"},
		{"CR rewrites the line", "fake ok\rreal", "fake ok real"},
		{"LF starts a line", "denied\nSuccess! token written", "denied Success! token written"},
		{"CRLF and tab", "a\r\n\tb", "a   b"},
		{"DEL", "a\x7fb", "ab"},
		{"NUL and BEL", "a\x00b\x07c", "abc"},
		{"C1 CSI and NEL", "a\u009b31mb\u0085c", "a31mb c"},
		{"bidi override", "abc\u202edcba\u2066x\u2069", "abcdcbax"},
		{"invalid UTF-8", "a\xffb", "a\ufffdb"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SanitizeText(tc.in); got != tc.want {
				t.Errorf("SanitizeText(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}
