//go:build !unix

package sqlite

import "os"

// statFileID only checks that the file exists where the platform gives no
// device and inode.
func statFileID(path string) (fileID, bool, error) {
	_, err := os.Stat(path)
	return fileID{}, false, err
}

// freeBytes is unknown on this platform.
func freeBytes(dir string) (uint64, bool, error) { return 0, false, nil }
