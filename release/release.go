// Package release hands unsubscribed instances back to the data plane. The
// unsubscribe transaction writes a release job (outbox); a Worker claims due
// jobs, calls a Driver, and records the outcome: done (the instance becomes
// released) or a failed attempt retried with exponential backoff until the
// job gives up and waits for an operator.
package release

import (
	"context"

	"github.com/phonefleet/phonefleet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Delivery outcomes, the values of the outcome label of
// phonefleet_release_deliveries_total.
const (
	OutcomeOK     = "ok"      // the driver confirmed; the job is done
	OutcomeError  = "error"   // the attempt failed and will be retried
	OutcomeGaveUp = "gave_up" // the last allowed attempt failed; the job is failed
)

// deliveriesTotal counts delivery attempts by outcome; each attempt is
// counted once.
var deliveriesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "phonefleet_release_deliveries_total",
	Help: "Release deliveries attempted, by outcome (ok, error, gave_up).",
}, []string{"outcome"})

// Driver releases one instance to the data plane. A nil error confirms the
// release; any error is retried later. Release must honour ctx and may be
// called more than once for the same job (delivery is at least once).
type Driver interface {
	Release(ctx context.Context, job *phonefleet.ReleaseJob) error
}

// NoopDriver releases at once: no data plane is attached.
type NoopDriver struct{}

// Release implements Driver and always succeeds.
func (NoopDriver) Release(ctx context.Context, job *phonefleet.ReleaseJob) error { return nil }

var (
	_ Driver = NoopDriver{}
	_ Driver = (*WebhookDriver)(nil)
)
