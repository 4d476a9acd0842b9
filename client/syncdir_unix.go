//go:build !windows

package client

import "os"

// syncDir makes a rename in dir durable: fsync(2) of the directory.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
