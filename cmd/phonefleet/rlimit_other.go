//go:build !unix

package main

import pfhttp "github.com/phonefleet/phonefleet/http"

// connLimit returns the default connection limit where the open-file limit
// is not known.
func connLimit() (int, uint64) { return pfhttp.DefaultMaxConns, 0 }
