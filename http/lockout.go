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
//
// Sign-ins reserve an attempt before checking the password (reserve) and
// then turn the reservation into a failure or give it back, so attempts in
// progress count against the limit too: however many arrive at once, at
// most limit of them are checked. Access keys record failures after the
// check (locked, fail, succeed).
type failureLimiter struct {
	limit int

	mu      sync.Mutex
	entries map[string]*failureEntry
}

type failureEntry struct {
	failures    int
	pending     int // reserved attempts in progress
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

// reserve takes one attempt of key at now, or reports false, taking
// nothing, if key is locked or its failures and the attempts in progress
// already reach the limit. A reservation ends with exactly one of
// failReserved or release.
func (l *failureLimiter) reserve(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key, now)
	if now.Before(e.lockedUntil) || e.failures+e.pending >= l.limit {
		return false
	}
	e.pending++
	return true
}

// failReserved turns a reservation of key into a failure at now (see fail).
func (l *failureLimiter) failReserved(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entry(key, now)
	e.pending = max(e.pending-1, 0)
	return l.failEntry(e, now)
}

// release gives back a reservation of key that did not fail; with reset,
// it also ends key's run of failures (a right password).
func (l *failureLimiter) release(key string, reset bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.entries[key]
	if e == nil {
		return
	}
	e.pending = max(e.pending-1, 0)
	if reset {
		e.failures = 0
	}
	if e.pending == 0 && e.failures == 0 && e.lockedUntil.IsZero() {
		delete(l.entries, key)
	}
}

// entry returns key's entry, new if there is none, with a run of failures
// older than failureMemory forgotten. Called with l.mu held.
func (l *failureLimiter) entry(key string, now time.Time) *failureEntry {
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
	return e
}

// fail records a failure of key at now; the limit-th failure in a row locks
// it, and fail reports whether it is now locked.
func (l *failureLimiter) fail(key string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failEntry(l.entry(key, now), now)
}

// failEntry counts a failure of e at now. Called with l.mu held.
func (l *failureLimiter) failEntry(e *failureEntry, now time.Time) bool {
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
	if e := l.entries[key]; e != nil && e.lockedUntil.IsZero() && e.pending == 0 {
		delete(l.entries, key)
	} else if e != nil {
		e.failures = 0
	}
}

// sweep drops entries that are neither locked, reserved nor recent; if
// that frees nothing, every entry neither locked nor reserved. Called with
// l.mu held.
func (l *failureLimiter) sweep(now time.Time) {
	for k, e := range l.entries {
		if !now.Before(e.lockedUntil) && e.pending == 0 && now.Sub(e.last) > failureMemory {
			delete(l.entries, k)
		}
	}
	if len(l.entries) >= maxLockoutEntries {
		for k, e := range l.entries {
			if !now.Before(e.lockedUntil) && e.pending == 0 {
				delete(l.entries, k)
			}
		}
	}
}

// signInReservation is one sign-in attempt's hold on its client address
// and its (tenant, user name) while the password is checked.
type signInReservation struct {
	s          *Server
	addr, name string
	now        time.Time
	done       bool
}

// reserveSignIn reserves an attempt against addr and then name at now, or
// returns nil and the message of the limit that refused it (taking
// nothing).
func (s *Server) reserveSignIn(addr, name string, now time.Time) (*signInReservation, string) {
	if !s.addressFailures.reserve(addr, now) {
		return nil, msgIAMAddressLocked
	} else if !s.loginFailures.reserve(name, now) {
		s.addressFailures.release(addr, false)
		return nil, msgIAMUserLocked
	}
	return &signInReservation{s: s, addr: addr, name: name, now: now}, ""
}

// fail counts the attempt as a failure of both.
func (r *signInReservation) fail() {
	if !r.done {
		r.done = true
		r.s.addressFailures.failReserved(r.addr, r.now)
		r.s.loginFailures.failReserved(r.name, r.now)
	}
}

// succeed gives the reservations back and ends the name's run of failures.
// The address keeps its failures: knowing one password must not let a
// source try more names.
func (r *signInReservation) succeed() {
	if !r.done {
		r.done = true
		r.s.addressFailures.release(r.addr, false)
		r.s.loginFailures.release(r.name, true)
	}
}

// abandon gives the reservations back unless fail or succeed ended them:
// an attempt that could not be checked is not a failure.
func (r *signInReservation) abandon() {
	if !r.done {
		r.done = true
		r.s.addressFailures.release(r.addr, false)
		r.s.loginFailures.release(r.name, false)
	}
}
