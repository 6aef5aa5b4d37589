//go:build !unix

package sqlite

import "os"

// lockFile creates the lock file at path but takes no lock: this platform
// has no flock(2), so restore cannot tell a database in use (see
// lock_unix.go).
func lockFile(path string, exclusive bool) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}
