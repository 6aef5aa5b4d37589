package http

import (
	"sync"
	"time"
)

// Limits of failed sign-ins and signatures. They run on wall time, never
// on the test clock, so moving business time never locks anyone out.
const (
	// maxFailures failures in a row lock a user name (per tenant) or an
	// access key for lockoutDuration.
	maxFailures     = 5
	lockoutDuration = 5 * time.Minute
	// failureMemory is how long a run of failures is remembered without a
	// new one.
	failureMemory = 15 * time.Minute

	// maxAddressFailures failed sign-ins from one client address within
	// failureMemory lock that address for lockoutDuration, whatever names
	// it tries.
	maxAddressFailures = 20

	maxLockoutEntries = 100000
)

// failureLimiter counts failures in a row per key and locks a key for
// lockoutDuration once it reaches its limit. State is per node and bounded.
type failureLimiter struct {
	limit int

	mu      sync.Mutex
	entries map[string]*failureEntry
}

type failureEntry struct {
	failures    int
	last        time.Time
	lockedUntil time.Time
}

func newFailureLimiter(limit int) *failureLimiter {
	return &failureLimiter{limit: limit, entries: make(map[string]*failureEntry)}
}

// locked reports whether key is locked at now.
func (l *failureLimiter) locked(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[key]
	return e != nil && now.Before(e.lockedUntil)
}

// fail records a failure of key at now; the limit-th failure in a row locks
// it, and fail reports whether it is now locked.
func (l *failureLimiter) fail(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[key]
	if e == nil {
		if len(l.entries) >= maxLockoutEntries {
			l.sweep(now)
		}
		e = &failureEntry{}
		l.entries[key] = e
	} else if now.Sub(e.last) > failureMemory && !now.Before(e.lockedUntil) {
		e.failures = 0
	}
	e.failures++
	e.last = now
	if e.failures >= l.limit {
		e.failures, e.lockedUntil = 0, now.Add(lockoutDuration)
	}
	return now.Before(e.lockedUntil)
}

// succeed ends key's run of failures.
func (l *failureLimiter) succeed(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.entries[key]; e != nil && e.lockedUntil.IsZero() {
		delete(l.entries, key)
	} else if e != nil {
		e.failures = 0
	}
}

// sweep drops entries that are neither locked nor recent; if that frees
// nothing, every unlocked entry. Called with l.mu held.
func (l *failureLimiter) sweep(now time.Time) {
	for k, e := range l.entries {
		if !now.Before(e.lockedUntil) && now.Sub(e.last) > failureMemory {
			delete(l.entries, k)
		}
	}
	if len(l.entries) >= maxLockoutEntries {
		for k, e := range l.entries {
			if !now.Before(e.lockedUntil) {
				delete(l.entries, k)
			}
		}
	}
}
