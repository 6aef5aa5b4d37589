// Package release delivers data-plane commands: releases of unsubscribed
// instances, reboots, resets and wipes of an end user's data. The request
// that causes a command writes it in its own transaction (outbox); a Worker
// claims due commands, calls a Driver, and records the outcome: done (a
// released instance becomes released), accepted (the data plane reports
// later), or a failed attempt retried with exponential backoff until the
// command gives up and waits for an operator.
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
	OutcomeOK       = "ok"       // the driver confirmed; the job is done
	OutcomeAccepted = "accepted" // the data plane took the command and reports later
	OutcomeError    = "error"    // the attempt failed and will be retried
	OutcomeGaveUp   = "gave_up"  // the last allowed attempt failed; the job is failed
)

// deliveriesTotal counts delivery attempts by outcome; each attempt is
// counted once.
var deliveriesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Name: "phonefleet_release_deliveries_total",
	Help: "Data-plane command deliveries attempted, by outcome (ok, accepted, error, gave_up).",
}, []string{"outcome"})

// Every outcome's series is exported from the start, at 0.
func init() {
	for _, o := range []string{OutcomeOK, OutcomeAccepted, OutcomeError, OutcomeGaveUp} {
		deliveriesTotal.WithLabelValues(o)
	}
}

// Driver hands one command to the data plane. A nil error with accepted
// false confirms it; accepted true means the data plane took it and will
// report the outcome later; any error is retried later. Deliver must honour
// ctx and may be called more than once for the same command (delivery is
// at least once).
type Driver interface {
	Deliver(ctx context.Context, cmd *phonefleet.Command) (accepted bool, err error)
}

// NoopDriver confirms every command at once: no data plane is attached.
type NoopDriver struct{}

// Deliver implements Driver and always confirms.
func (NoopDriver) Deliver(ctx context.Context, cmd *phonefleet.Command) (bool, error) {
	return false, nil
}

var (
	_ Driver = NoopDriver{}
	_ Driver = (*WebhookDriver)(nil)
)
