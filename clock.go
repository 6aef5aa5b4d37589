package phonefleet

import (
	"context"
	"time"
)

// The test clock lets integrators move business time forward (to check a
// refund on day 4 against day 6, or a second year's fee) without waiting.
// Business time is the store's current time plus an offset kept in the
// database, so every node and every restart agree on it. It governs what
// billing sees: purchase start and expiry, refunds, and the times the audit
// trail records. Security and delivery timing (token and lockout expiry,
// rate limits, leases, retry backoff) keep wall time. The offset only ever
// grows: business time never goes back.

// ClockService reads and moves the test clock. Stores implement it; it is
// only served when the operator turns the test clock on.
type ClockService interface {
	// BusinessNow returns the current business time.
	BusinessNow(ctx context.Context) (time.Time, error)
	// SetBusinessNow moves business time to t and returns it. EInvalid if
	// t is before the current business time.
	SetBusinessNow(ctx context.Context, t time.Time) (time.Time, error)
}

// PlanClockOffset returns the offset that makes business time t when the
// store's own time is base and business time is now cur; EInvalid if that
// would move business time back.
func PlanClockOffset(base, cur, t time.Time) (time.Duration, error) {
	if t.Before(cur) {
		return 0, Errorf(EInvalid, "now must not be in the past: business time is already %s", cur.UTC().Format(time.RFC3339Nano))
	}
	return t.Sub(base), nil
}
