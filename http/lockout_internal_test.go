package http

import (
	"fmt"
	"testing"
	"time"
)

// The reservations of failureLimiter, counted, not timed: attempts in
// progress count against the limit, and each ends as a failure or is given
// back.
func TestFailureLimiter_Reserve(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

	t.Run("InProgressCount", func(t *testing.T) {
		l := newFailureLimiter(5)
		for i := range 5 {
			if !l.reserve("k", now) {
				t.Fatalf("reservation %d refused", i+1)
			}
		}
		if l.reserve("k", now) {
			t.Fatal("a sixth reservation while five are in progress")
		}
		l.release("k", false) // e.g. a store failure: not a failure
		if !l.reserve("k", now) {
			t.Fatal("reservation refused after one was given back")
		}
		for range 5 {
			l.failReserved("k", now)
		}
		if !l.locked("k", now) || l.reserve("k", now.Add(lockoutDuration-time.Second)) {
			t.Fatal("five failed reservations did not lock the key")
		}
		if !l.reserve("k", now.Add(lockoutDuration)) {
			t.Fatal("still refused after the lockout")
		}
	})
	t.Run("SuccessResets", func(t *testing.T) {
		l := newFailureLimiter(5)
		for range 4 {
			l.reserve("k", now)
			l.failReserved("k", now)
		}
		l.reserve("k", now)
		l.release("k", true)
		for i := range 5 {
			if !l.reserve("k", now) {
				t.Fatalf("reservation %d refused after a success", i+1)
			}
		}
		for range 5 {
			l.release("k", false)
		}
		if len(l.entries) != 0 {
			t.Fatalf("%d entries left with nothing to remember", len(l.entries))
		}
	})
	t.Run("ReleaseKeepsFailures", func(t *testing.T) {
		l := newFailureLimiter(2)
		l.reserve("addr", now)
		l.failReserved("addr", now)
		l.reserve("addr", now)
		l.release("addr", false) // a success from the address
		if !l.reserve("addr", now) || l.reserve("addr", now) {
			t.Fatal("a success cleared the address's failure")
		}
	})
	t.Run("SweepKeepsReservations", func(t *testing.T) {
		l := newFailureLimiter(5)
		l.reserve("held", now)
		later := now.Add(2 * failureMemory)
		for i := range maxLockoutEntries {
			l.entries[fmt.Sprint(i)] = &failureEntry{failures: 1, last: later}
		}
		l.fail("new", later) // full: sweeps
		if e := l.entries["held"]; e == nil || e.pending != 1 {
			t.Fatalf("the sweep dropped a reservation in progress: %+v", e)
		}
		l.failReserved("held", later)
		if e := l.entries["held"]; e == nil || e.pending != 0 || e.failures != 1 {
			t.Fatalf("after the failure: %+v, want 1 failure and nothing pending", e)
		}
	})
}
