//go:build unix

package sqlite

import (
	"os"
	"syscall"
)

// statFileID returns the device and inode of the file at path.
func statFileID(path string) (fileID, bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileID{}, false, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fileID{}, false, nil
	}
	return fileID{dev: uint64(st.Dev), ino: uint64(st.Ino)}, true, nil
}

// freeBytes returns the space available to this process in dir's file
// system.
func freeBytes(dir string) (uint64, bool, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false, err
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true, nil
}
