package postgres

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// TestCommandPaths_EqualWork: every command path (reboot, reset, assign,
// unassign, prepare) does the same work in the database for another
// tenant's instances as for instances that do not exist, so its time tells
// nothing about who owns an ID (invariant 4). The work is counted, not
// timed: the transaction's own statistics (pg_stat_xact_user_tables) of
// scans and rows fetched, read when the operation has loaded its instances,
// must be the same for 4 foreign IDs as for 4 missing ones.
func TestCommandPaths_EqualWork(t *testing.T) {
	db := openTxTestDB(t)
	acme, other := mustTenant(t, db, "acme"), mustTenant(t, db, "other")
	mustBuy(t, db, acme, 3000, true) // enough rows that the planner uses an index
	foreign := mustBuy(t, db, other, 4, true)
	missing := make([]string, 4)
	for i := range missing {
		missing[i] = phonefleet.NewInstanceID()
	}
	// Fresh statistics, so the planner sees the tables as they are.
	if _, err := db.pool.Exec(context.Background(), `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	// The backend's counters of this transaction (and of earlier ones it
	// has not reported yet) when the load begins and when it is done: the
	// difference is the load's work.
	var work string
	var before [4]int64
	db.testHookFound = func(ctx context.Context, tx pgx.Tx, done bool) {
		var c [4]int64
		if err := tx.QueryRow(ctx, `
			SELECT COALESCE(SUM(seq_scan), 0), COALESCE(SUM(seq_tup_read), 0),
			       COALESCE(SUM(idx_scan), 0), COALESCE(SUM(idx_tup_fetch), 0)
			FROM pg_stat_xact_user_tables`).Scan(&c[0], &c[1], &c[2], &c[3]); err != nil {
			work = "error: " + err.Error()
			return
		}
		if !done {
			before = c
			return
		}
		work = fmt.Sprintf("seq_scan=%d seq_tup_read=%d idx_scan=%d idx_tup_fetch=%d", c[0]-before[0], c[1]-before[1], c[2]-before[2], c[3]-before[3])
	}
	defer func() { db.testHookFound = nil }()
	ctx := context.Background()
	pairs := func(ids []string) []phonefleet.UserInstance {
		var ps []phonefleet.UserInstance
		for _, id := range ids {
			ps = append(ps, phonefleet.UserInstance{UserID: "alice", InstanceID: id})
		}
		return ps
	}
	for _, tc := range []struct {
		name string
		run  func(ids []string) error
	}{
		{"reboot", func(ids []string) error {
			_, err := db.StartCommands(ctx, &phonefleet.CommandRequest{TenantID: acme, RequestID: "r", Type: phonefleet.CommandReboot, InstanceIDs: ids})
			return err
		}},
		{"reset", func(ids []string) error {
			_, err := db.StartCommands(ctx, &phonefleet.CommandRequest{TenantID: acme, RequestID: "r", Type: phonefleet.CommandReset, InstanceIDs: ids})
			return err
		}},
		{"assign", func(ids []string) error {
			_, err := db.Assign(ctx, &phonefleet.AssignRequest{TenantID: acme, RequestID: "r", Pairs: pairs(ids)})
			return err
		}},
		{"unassign", func(ids []string) error {
			_, err := db.Unassign(ctx, &phonefleet.AssignRequest{TenantID: acme, RequestID: "r", Pairs: pairs(ids)})
			return err
		}},
		{"prepare", func(ids []string) error {
			_, err := db.Prepare(ctx, &phonefleet.PrepareRequest{TenantID: acme, RequestID: "r", UserID: "alice", InstanceIDs: ids})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			measure := func(ids []string) string {
				t.Helper()
				work = ""
				if err := tc.run(ids); err == nil {
					t.Fatalf("%s of IDs that are not the tenant's succeeded", tc.name)
				}
				if work == "" {
					t.Fatalf("%s did not load its instances", tc.name)
				}
				return work
			}
			// Warm up past the point where PostgreSQL may switch the
			// prepared statements to a generic plan (after five runs), so
			// every run compared uses the plan the server keeps.
			for range 6 {
				measure(missing)
			}
			for round := range 3 {
				f, m := measure(foreign), measure(missing)
				if f != m {
					t.Fatalf("%s, round %d: 4 foreign IDs cost %s, 4 missing IDs %s; want the same work", tc.name, round, f, m)
				}
				if round == 0 {
					t.Logf("%s: %s for 4 foreign IDs as for 4 missing ones", tc.name, f)
				}
			}
		})
	}
}
