package client

import (
	"strings"
	"unicode/utf8"
)

// SanitizeText makes text that came from Vault (its error messages, names
// in its responses) safe to print on a terminal or in a log line: white
// space controls (LF, CR, tab, ...) become a space, so that the text cannot
// start a line of its own or rewrite the current one; other control
// characters (C0 such as ESC, DEL, C1 such as CSI) and the bidirectional
// overrides that reorder what a terminal shows are dropped, so that the
// text cannot carry an escape sequence; bytes that are not UTF-8 become
// U+FFFD. Everything else, any printable UTF-8, is kept.
func SanitizeText(s string) string {
	clean := true
	for _, r := range s {
		if r == utf8.RuneError || unsafeRune(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s { // ranging over invalid UTF-8 yields U+FFFD
		switch {
		case r == '\n' || r == '\r' || r == '\t' || r == '\v' || r == '\f' || r == 0x85:
			b.WriteByte(' ')
		case unsafeRune(r):
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unsafeRune: a control character, or a bidirectional embedding, override
// or isolate.
func unsafeRune(r rune) bool {
	return r < 0x20 || (r >= 0x7f && r <= 0x9f) ||
		(r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069)
}

// sanitizeAll is SanitizeText over each of texts.
func sanitizeAll(texts []string) []string {
	out := make([]string, len(texts))
	for i, t := range texts {
		out[i] = SanitizeText(t)
	}
	return out
}
