package phonefleet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// ReplayGrace is how long past its window a signature is still remembered,
// so that nodes whose clocks differ by less than that all refuse it.
const ReplayGrace = time.Minute

// MaxReplayKey is the longest key a ReplayService takes.
const MaxReplayKey = 128

// ReplayKey returns the key under which a signature is remembered: kind
// ("report", "aksk"), a colon and the hex SHA-256 of the parts, each
// prefixed with its length, so that no two lists of parts share a key.
func ReplayKey(kind string, parts ...[]byte) string {
	h := sha256.New()
	for _, p := range parts {
		var n [8]byte
		for i := range n {
			n[i] = byte(uint64(len(p)) >> (8 * i))
		}
		h.Write(n[:])
		h.Write(p)
	}
	return kind + ":" + hex.EncodeToString(h.Sum(nil))
}

// ValidateReplayKey returns EInvalid unless key is 1–MaxReplayKey bytes.
func ValidateReplayKey(key string) error {
	if key == "" || len(key) > MaxReplayKey {
		return Errorf(EInvalid, "replay key must be 1-%d bytes", MaxReplayKey)
	}
	return nil
}

// ReplayService remembers the signatures that were accepted (signed AK/SK
// requests, data-plane reports), so that a captured request cannot be sent
// again while its signature is still within its time window. On PostgreSQL
// every node shares it.
type ReplayService interface {
	// RememberSignature records key as accepted until until, by the
	// store's wall clock, and reports whether it is fresh: false if key was
	// recorded before and has not expired. Of two callers with the same key
	// at once exactly one gets fresh. Expired keys are deleted from time to
	// time. EInvalid for a key that ValidateReplayKey refuses.
	RememberSignature(ctx context.Context, key string, until time.Time) (fresh bool, err error)
}
