package postgres_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet/internal/testingutil"
	"github.com/phonefleet/phonefleet/postgres"
	"github.com/prometheus/client_golang/prometheus"
)

// TestDB_PoolCollector checks the pool metrics /metrics serves for a
// PostgreSQL store: the pool's bound, and acquires that follow the queries.
func TestDB_PoolCollector(t *testing.T) {
	t.Run("BeforeOpen", func(t *testing.T) {
		reg := prometheus.NewPedanticRegistry()
		reg.MustRegister(postgres.NewDB("postgres://127.0.0.1:1/none").PoolCollector())
		if mfs, err := reg.Gather(); err != nil || len(mfs) != 0 {
			t.Fatalf("Gather before Open=%d families (%v), want none", len(mfs), err)
		}
	})

	db := MustOpenDB(t, nil)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(db.PoolCollector())
	values := func() map[string]float64 {
		t.Helper()
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatalf("Gather: %v", err)
		}
		out := map[string]float64{}
		for _, mf := range mfs {
			for _, m := range mf.GetMetric() {
				name := mf.GetName()
				for _, l := range m.GetLabel() {
					name += "/" + l.GetValue()
				}
				if g := m.GetGauge(); g != nil {
					out[name] = g.GetValue()
				} else {
					out[name] = m.GetCounter().GetValue()
				}
			}
		}
		return out
	}

	before := values()
	if got, want := before["phonefleet_pg_pool_max_conns"], float64(db.MaxConns); got != want {
		t.Fatalf("max_conns=%v, want %v", got, want)
	}
	for _, name := range []string{"phonefleet_pg_pool_conns/acquired", "phonefleet_pg_pool_conns/idle", "phonefleet_pg_pool_conns/constructing",
		"phonefleet_pg_pool_acquires_total", "phonefleet_pg_pool_new_conns_total", "phonefleet_pg_pool_acquire_seconds_total"} {
		if _, ok := before[name]; !ok {
			t.Fatalf("no %s in %v", name, before)
		}
	}
	for range 3 {
		if _, err := db.FindTenants(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	after := values()
	if d := after["phonefleet_pg_pool_acquires_total"] - before["phonefleet_pg_pool_acquires_total"]; d < 3 {
		t.Fatalf("acquires grew by %v over three queries, want at least 3", d)
	}
	if after["phonefleet_pg_pool_conns/idle"]+after["phonefleet_pg_pool_conns/acquired"] < 1 {
		t.Fatalf("no connection in the pool after queries: %v", after)
	}
}

// TestServe_PoolMetrics checks that serve on PostgreSQL serves the pool
// metrics on /metrics, next to the Go runtime and process ones.
func TestServe_PoolMetrics(t *testing.T) {
	dbURL := MustCreateSchema(t, MustTestURL(t))
	node := testingutil.MustStartNode(t, testingutil.MustBuildBinary(t), "--db", dbURL, "--pg-max-conns", "7")
	resp, err := http.Get(node.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	} else if resp.StatusCode != 200 {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	for _, want := range []string{"\nphonefleet_pg_pool_max_conns 7\n", "\nphonefleet_pg_pool_acquires_total ", "\ngo_goroutines ", "\nprocess_cpu_seconds_total "} {
		if !strings.Contains(string(body), want) {
			t.Fatalf("/metrics lacks %q:\n%s", strings.TrimSpace(want), body)
		}
	}
}
