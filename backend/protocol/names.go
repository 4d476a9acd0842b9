package protocol

import "fmt"

// MaxNameLen is the longest role name or client ID the protocol carries.
const MaxNameLen = 128

// ValidName reports whether s may appear as a role name or client ID in a
// proof header: 1 to MaxNameLen bytes of lower-case ASCII letters, digits,
// '.', '_' and '-', starting with a letter or digit. One canonical spelling
// per name means the header can be compared byte for byte.
func ValidName(s string) error {
	if len(s) == 0 || len(s) > MaxNameLen {
		return fmt.Errorf("must be 1 to %d characters", MaxNameLen)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
		case i > 0 && (c == '.' || c == '_' || c == '-'):
		default:
			return fmt.Errorf("must be lower-case letters, digits, '.', '_' or '-', starting with a letter or digit")
		}
	}
	return nil
}
