//go:build !(linux || darwin)

package client

import (
	"context"
	"errors"
)

// lockState is implemented for Linux and macOS, the platforms this client
// supports. Elsewhere the package builds, but every operation that writes
// the state (Save, Login) fails with this error rather than
// risk two processes racing on one state file without a lock.
func lockState(context.Context, string) (func(), error) {
	return nil, errors.New("locking the client state is implemented for Linux and macOS only")
}
