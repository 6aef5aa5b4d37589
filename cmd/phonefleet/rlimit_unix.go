//go:build unix

package main

import (
	"syscall"

	pfhttp "github.com/phonefleet/phonefleet/http"
)

// fdHeadroom is how many file descriptors the connection limit leaves for
// the database (SQLite's file, WAL and pools, or PostgreSQL connections),
// webhook deliveries, the metrics listener and logs.
const fdHeadroom = 512

// connLimit raises the soft open-file limit to the hard one (where the
// system allows) and returns the connection limit that leaves fdHeadroom
// descriptors, at most pfhttp.DefaultMaxConns and at least 64, with the
// soft limit it is based on.
func connLimit() (int, uint64) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return pfhttp.DefaultMaxConns, 0
	}
	if lim.Cur < lim.Max {
		raised := lim
		raised.Cur = lim.Max
		if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &raised) == nil {
			lim = raised
		}
	}
	n := uint64(pfhttp.DefaultMaxConns)
	if lim.Cur < n+fdHeadroom {
		n = 64
		if lim.Cur > 64+fdHeadroom {
			n = lim.Cur - fdHeadroom
		}
	}
	return int(n), uint64(lim.Cur)
}
