package http

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Business and middleware metrics of the API, registered with the default
// registry (which also carries the Go and process collectors). Every metric
// is described in docs/operations.md.
var (
	unsubscribedTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_instances_unsubscribed_total",
		Help: "Instances unsubscribed (no-ops and dry runs not counted).",
	})
	payPerUseDeletedTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_instances_pay_per_use_deleted_total",
		Help: "Pay-per-use instances deleted (no-ops and dry runs not counted).",
	})
	refundedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_refunded_minor_units_total",
		Help: "Money refunded by unsubscribes, in minor units (cents), by currency.",
	}, []string{"currency"})
	purchasesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_purchases_total",
		Help: "Orders placed, by billing mode (prePaid, postPaid).",
	}, []string{"billing_mode"})
	purchasedInstancesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_instances_purchased_total",
		Help: "Instances bought, by billing mode (prePaid, postPaid).",
	}, []string{"billing_mode"})
	tokenCacheTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_token_cache_lookups_total",
		Help: "Token lookups by result: hit (answered from this node's cache) or miss (read from the store).",
	}, []string{"result"})
	passwordChecksTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_iam_password_checks_total",
		Help: "Password hashes checked by sign-ins (POST /v3/auth/tokens), whatever the outcome; sign-ins refused by a lockout are not checked.",
	})
	replaysRefusedTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_replays_refused_total",
		Help: "Signed requests and data-plane reports refused because their signature was already accepted, by where the replay was found: memory (this node) or store.",
	}, []string{"found_in"})
	rateLimitedTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_rate_limited_requests_total",
		Help: "Requests refused with APIGW.0308 because their tenant was over its rate limit.",
	})
)

// The labelled series whose values are known are exported from the start,
// at 0, so that rate() sees their first increase and the documented list
// of metrics matches a fresh node's /metrics.
func init() {
	for _, mode := range []string{"prePaid", "postPaid"} {
		purchasesTotal.WithLabelValues(mode)
		purchasedInstancesTotal.WithLabelValues(mode)
	}
	tokenCacheTotal.WithLabelValues("hit")
	tokenCacheTotal.WithLabelValues("miss")
	replaysRefusedTotal.WithLabelValues("memory")
	replaysRefusedTotal.WithLabelValues("store")
	connsShed.WithLabelValues("idle")
	connsShed.WithLabelValues("refused")
}

// commandsDesc is the gauge of commands by state and type, read from the
// store at each scrape.
var commandsDesc = prometheus.NewDesc("phonefleet_commands",
	"Data-plane commands (release, reboot, reset, wipe_user_data, freeze, unfreeze) in the pending, accepted or failed state, by type; read from the database at each scrape.",
	[]string{"state", "type"}, nil)

var commandsScrapeErrorsDesc = prometheus.NewDesc("phonefleet_commands_scrape_errors",
	"1 when the last scrape could not read the commands from the database, else 0.", nil, nil)

// metricsScrapeTimeout bounds the store reads of one scrape.
const metricsScrapeTimeout = 2 * time.Second

// commandCollector reports the commands of one store that are in flight or
// failed. Done and canceled commands are history and are not listed.
type commandCollector struct{ store phonefleet.Store }

func (c commandCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- commandsDesc
	ch <- commandsScrapeErrorsDesc
}

func (c commandCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), metricsScrapeTimeout)
	defer cancel()
	failed := 0.0
	for _, state := range []phonefleet.JobState{phonefleet.JobStatePending, phonefleet.JobStateAccepted, phonefleet.JobStateFailed} {
		st := state
		cmds, err := c.find(ctx, st)
		if err != nil {
			failed = 1
			continue
		}
		byType := make(map[phonefleet.CommandType]int)
		for _, t := range phonefleet.CommandTypes {
			byType[t] = 0
		}
		for _, cmd := range cmds {
			byType[cmd.Type]++
		}
		for t, n := range byType {
			ch <- prometheus.MustNewConstMetric(commandsDesc, prometheus.GaugeValue, float64(n), string(state), string(t))
		}
	}
	ch <- prometheus.MustNewConstMetric(commandsScrapeErrorsDesc, prometheus.GaugeValue, failed)
}

// find lists the commands in state; a panicking store is an error, so a
// scrape never fails as a whole.
func (c commandCollector) find(ctx context.Context, state phonefleet.JobState) (cmds []*phonefleet.Command, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("find commands: panic: %v", v)
		}
	}()
	return c.store.FindCommands(ctx, phonefleet.CommandFilter{State: &state})
}

// metricsHandler serves the default registry (with the Go runtime and
// process collectors), this server's command gauge and its Collectors in
// the Prometheus text format.
func (s *Server) metricsHandler() http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(commandCollector{store: s.Store})
	reg.MustRegister(s.Collectors...)
	return promhttp.HandlerFor(prometheus.Gatherers{prometheus.DefaultGatherer, reg}, promhttp.HandlerOpts{})
}

// MetricsHandler returns the /metrics handler, for serving it on a
// listener of its own (set NoMetrics then).
func (s *Server) MetricsHandler() http.Handler { return s.metricsHandler() }

// handleMetrics serves GET /metrics on the API listener, unless NoMetrics.
func (s *Server) handleMetrics(w http.ResponseWriter, r *http.Request) {
	if s.NoMetrics {
		Error(w, r, phonefleet.Errorf(phonefleet.ENoSuchAPI, "No API found for %s %s", r.Method, r.URL.Path))
		return
	}
	s.metricsOnce.Do(func() { s.metrics = s.metricsHandler() })
	s.metrics.ServeHTTP(w, r)
}

// countUnsubscribe records a committed unsubscribe.
func countUnsubscribe(plan *phonefleet.UnsubscribePlan) {
	for _, it := range plan.Items {
		if it.Noop {
			continue
		}
		unsubscribedTotal.Inc()
		currency := it.Refund.Currency
		if currency == "" {
			currency = plan.Currency
		}
		refundedTotal.WithLabelValues(currency).Add(float64(it.Refund.Amount))
	}
}
