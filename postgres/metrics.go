package postgres

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Pool metrics, read from the pool at each scrape.
var (
	poolConnsDesc = prometheus.NewDesc("phonefleet_pg_pool_conns",
		"PostgreSQL pool connections by state: acquired (in use), idle, constructing.", []string{"state"}, nil)
	poolMaxConnsDesc = prometheus.NewDesc("phonefleet_pg_pool_max_conns",
		"Upper bound of the PostgreSQL pool (--pg-max-conns).", nil, nil)
	poolAcquiresDesc = prometheus.NewDesc("phonefleet_pg_pool_acquires_total",
		"Connections acquired from the PostgreSQL pool.", nil, nil)
	poolEmptyAcquiresDesc = prometheus.NewDesc("phonefleet_pg_pool_empty_acquires_total",
		"Acquires that found no idle connection and waited for one or for a new one.", nil, nil)
	poolCanceledAcquiresDesc = prometheus.NewDesc("phonefleet_pg_pool_canceled_acquires_total",
		"Acquires given up because their context ended (a request deadline while the pool was full).", nil, nil)
	poolAcquireSecondsDesc = prometheus.NewDesc("phonefleet_pg_pool_acquire_seconds_total",
		"Total time spent acquiring connections.", nil, nil)
	poolEmptyWaitSecondsDesc = prometheus.NewDesc("phonefleet_pg_pool_empty_acquire_wait_seconds_total",
		"Total time acquires waited because the pool had no idle connection.", nil, nil)
	poolNewConnsDesc = prometheus.NewDesc("phonefleet_pg_pool_new_conns_total",
		"Connections the pool opened.", nil, nil)
)

// PoolCollector returns a Prometheus collector of the connection pool's
// statistics; it reports nothing before Open.
func (db *DB) PoolCollector() prometheus.Collector { return poolCollector{db} }

type poolCollector struct{ db *DB }

var _ prometheus.Collector = poolCollector{}

func (c poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolConnsDesc, poolMaxConnsDesc, poolAcquiresDesc, poolEmptyAcquiresDesc,
		poolCanceledAcquiresDesc, poolAcquireSecondsDesc, poolEmptyWaitSecondsDesc, poolNewConnsDesc} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.db.Stat()
	if st == nil {
		return
	}
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(poolConnsDesc, float64(st.AcquiredConns()), "acquired")
	gauge(poolConnsDesc, float64(st.IdleConns()), "idle")
	gauge(poolConnsDesc, float64(st.ConstructingConns()), "constructing")
	gauge(poolMaxConnsDesc, float64(st.MaxConns()))
	counter(poolAcquiresDesc, float64(st.AcquireCount()))
	counter(poolEmptyAcquiresDesc, float64(st.EmptyAcquireCount()))
	counter(poolCanceledAcquiresDesc, float64(st.CanceledAcquireCount()))
	counter(poolAcquireSecondsDesc, st.AcquireDuration().Seconds())
	counter(poolEmptyWaitSecondsDesc, st.EmptyAcquireWaitTime().Seconds())
	counter(poolNewConnsDesc, float64(st.NewConnsCount()))
}
