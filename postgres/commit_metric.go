package postgres

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// commitDuration times the COMMIT of each transaction a write operation
// runs, failed ones included; registered with the default registry and
// described in docs/operations.md.
var commitDuration = promauto.NewHistogram(prometheus.HistogramOpts{
	Name:    "phonefleet_pg_commit_duration_seconds",
	Help:    "Time of the COMMIT of one PostgreSQL transaction, failed ones included.",
	Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 100µs … ~6s
})
