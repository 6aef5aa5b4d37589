package postgres_test

import (
	"context"
	"testing"

	"github.com/phonefleet/phonefleet"
	"github.com/prometheus/client_golang/prometheus"
)

// commitCount returns how many commits phonefleet_pg_commit_duration_seconds
// has observed in this process.
func commitCount(t *testing.T) uint64 {
	t.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "phonefleet_pg_commit_duration_seconds" {
			return mf.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// TestDB_CommitDuration checks that a write operation's commit is timed.
func TestDB_CommitDuration(t *testing.T) {
	db := MustOpenDB(t, nil)
	before := commitCount(t)
	if err := db.CreateTenant(context.Background(), &phonefleet.Tenant{Name: "commit-metric"}); err != nil {
		t.Fatal(err)
	}
	if got := commitCount(t); got < before+1 {
		t.Fatalf("commits timed: %d before a write, %d after", before, got)
	}
}
