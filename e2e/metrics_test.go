package e2e

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/client"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// metrics is one scrape of /metrics, parsed by Prometheus's own text
// parser.
type metrics map[string]*dto.MetricFamily

func mustScrape(t *testing.T, url string) metrics {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d", resp.StatusCode)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("/metrics does not parse as the Prometheus text format: %v", err)
	}
	return fams
}

// value returns the value of the sample of name with labels (a counter's
// or gauge's value, a histogram's count), 0 when absent.
func (m metrics) value(name string, labels ...string) float64 {
	fam := m[name]
	if fam == nil {
		return 0
	}
next:
	for _, s := range fam.Metric {
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range s.Label {
				if l.GetName() == labels[i] && l.GetValue() == labels[i+1] {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		switch {
		case s.Counter != nil:
			return s.Counter.GetValue()
		case s.Gauge != nil:
			return s.Gauge.GetValue()
		case s.Histogram != nil:
			return float64(s.Histogram.GetSampleCount())
		}
	}
	return 0
}

var metricsAddrRE = regexp.MustCompile(`metrics_addr=(127\.0\.0\.1:\d+)`)

// TestMetrics sends known traffic to a fresh server whose /metrics has a
// listener of its own, and checks each counter moved by exactly that
// traffic.
func TestMetrics(t *testing.T) {
	db := filepath.Join(t.TempDir(), "pf.db")
	te := MustTenant(t, db, "acme")
	flags := append(heldReleaseFlags(t), "--metrics-addr", "127.0.0.1:0",
		"--rate-limit", "0.0001", "--rate-burst", "6", "--token-cache-ttl", "1h")
	node := MustServe(t, db, flags...)
	m := metricsAddrRE.FindStringSubmatch(node.Stderr.String())
	if m == nil {
		t.Fatalf("no metrics_addr in the logs:\n%s", node.Stderr)
	}
	metricsURL := "http://" + m[1]

	// The API listener no longer serves /metrics.
	wantErr(t, call(t, "GET", node.URL+"/metrics", "", "", nil), http.StatusNotFound, phonefleet.ENoSuchAPI)

	before := mustScrape(t, metricsURL)
	ctx := context.Background()
	cl := client.New(node.URL, te.Admin)
	cl.MaxAttempts = 1
	buy := func(mode, n int) []string {
		req := client.CreateRequest{OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
			RegionID: "cn-north-4", InstanceNamePrefix: "m", BandSize: 2, Count: n, ChargeParam: client.ChargeParam{ChargingMode: mode}}
		if mode == 1 {
			req.ChargeParam.PeriodType, req.ChargeParam.PeriodNum = 2, 1
		}
		res, err := cl.Create(ctx, req, "")
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, in := range res.InstanceInfos {
			ids = append(ids, in.InstanceID)
		}
		return ids
	}
	monthly := buy(1, 3)                               // request 1
	buy(0, 1)                                          // 2
	dry, err := cl.UnsubscribeDryRun(ctx, monthly[:2]) // 3
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Unsubscribe(ctx, monthly[:2]); err != nil { // 4
		t.Fatal(err)
	}
	if err := cl.Unsubscribe(ctx, monthly[:2]); err != nil { // 5: no-ops
		t.Fatal(err)
	}
	if _, err := cl.BatchQuery(ctx, client.Query{}); err != nil { // 6: the burst is spent
		t.Fatal(err)
	}
	for range 2 {
		if _, err := cl.BatchQuery(ctx, client.Query{}); phonefleet.ErrorCode(err) != phonefleet.ERateLimited {
			t.Fatalf("request over the burst: %v, want %s", err, phonefleet.ERateLimited)
		}
	}
	after := mustScrape(t, metricsURL)
	checkMetricsDocumented(t, after)

	delta := func(name string, labels ...string) float64 {
		return after.value(name, labels...) - before.value(name, labels...)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"phonefleet_http_requests_total", []string{"pattern", "POST /v1/instances/create", "code", "200"}, 2},
		{"phonefleet_http_requests_total", []string{"pattern", "POST /v1/instances/delete", "code", "200"}, 3},
		{"phonefleet_http_requests_total", []string{"pattern", "GET /v1/instances/batch-query", "code", "200"}, 1},
		{"phonefleet_http_requests_total", []string{"pattern", "GET /v1/instances/batch-query", "code", "429"}, 2},
		{"phonefleet_http_request_duration_seconds", []string{"pattern", "POST /v1/instances/delete"}, 3},
		{"phonefleet_http_errors_total", []string{"code", phonefleet.ERateLimited}, 2},
		{"phonefleet_instances_unsubscribed_total", nil, 2},
		{"phonefleet_refunded_minor_units_total", []string{"currency", dry.Currency}, float64(dry.TotalRefund)},
		{"phonefleet_purchases_total", []string{"billing_mode", "prePaid"}, 1},
		{"phonefleet_purchases_total", []string{"billing_mode", "postPaid"}, 1},
		{"phonefleet_instances_purchased_total", []string{"billing_mode", "prePaid"}, 3},
		{"phonefleet_instances_purchased_total", []string{"billing_mode", "postPaid"}, 1},
		{"phonefleet_rate_limited_requests_total", nil, 2},
		// One token, cached for an hour: read once, then found in the cache.
		{"phonefleet_token_cache_lookups_total", []string{"result", "miss"}, 1},
		{"phonefleet_token_cache_lookups_total", []string{"result", "hit"}, 7},
		// The webhook always fails: both releases stay pending.
		{"phonefleet_commands", []string{"state", "pending", "type", "release"}, 2},
	} {
		if got := delta(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v moved by %g, want %g", c.name, c.labels, got, c.want)
		}
	}
	if dry.TotalRefund <= 0 {
		t.Errorf("dry run refund %d: the refund counter check proves nothing", dry.TotalRefund)
	}
	// Every write committed (two orders, the unsubscribe, the audit events
	// of the dry run and of the repeat) is in a batch; the release worker
	// writes too (claims, failed attempts), so these are lower bounds.
	sum := func(m metrics) float64 {
		if f := m["phonefleet_sqlite_write_batch_size"]; f != nil && len(f.Metric) == 1 {
			return f.Metric[0].Histogram.GetSampleSum()
		}
		return 0
	}
	if n, ops := delta("phonefleet_sqlite_write_batch_size"), sum(after)-sum(before); n < 1 || ops < 5 || ops < n {
		t.Errorf("%g write batches of %g operations, want at least 5 operations", n, ops)
	}
	// Every commit is timed and counted as a batch. The writer observes
	// the two one after the other, and the release worker keeps writing
	// (claims), so a scrape can fall between them: a real gap is still
	// there in the next scrape, a scrape's timing is not.
	for try := 1; ; try++ {
		n, batches := delta("phonefleet_sqlite_commit_duration_seconds"), delta("phonefleet_sqlite_write_batch_size")
		if n == batches {
			break
		} else if try == 3 {
			t.Errorf("%g commits timed, %g batches (in %d scrapes)", n, batches, try)
			break
		}
		after = mustScrape(t, metricsURL)
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "phonefleet_commands_scrape_errors"} {
		if after[name] == nil {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if v := after.value("phonefleet_commands_scrape_errors"); v != 0 {
		t.Errorf("phonefleet_commands_scrape_errors = %g", v)
	}
}

// documentedMetrics reads the metric names of the table in the "Metrics"
// section of docs/operations.md: each phonefleet_* name in backticks in a
// row's first column, with whether the row says it exists on PostgreSQL
// only.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "docs", "operations.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Metrics\n")
	if !ok {
		t.Fatal(`docs/operations.md has no "## Metrics" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	names := map[string]bool{}
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(line, "|")
		pgOnly := strings.Contains(line, "PostgreSQL only")
		for _, m := range regexp.MustCompile("`(phonefleet_[a-z0-9_]+)`").FindAllStringSubmatch(cols[1], -1) {
			names[m[1]] = pgOnly
		}
	}
	if len(names) < 20 {
		t.Fatalf("found only %d metrics in docs/operations.md: %v", len(names), names)
	}
	return names
}

// checkMetricsDocumented compares the phonefleet_* families of a SQLite
// node's scrape with docs/operations.md, both ways: every family served is
// documented, and every documented one is served (except those documented
// as PostgreSQL only).
func checkMetricsDocumented(t *testing.T, scraped metrics) {
	t.Helper()
	docs := documentedMetrics(t)
	for name := range scraped {
		if strings.HasPrefix(name, "phonefleet_") {
			if _, ok := docs[name]; !ok {
				t.Errorf("/metrics serves %s, which docs/operations.md does not list", name)
			}
		}
	}
	for name, pgOnly := range docs {
		if _, ok := scraped[name]; !ok && !pgOnly {
			t.Errorf("docs/operations.md lists %s, which /metrics does not serve", name)
		}
	}
}
