package sqlite

import (
	"context"
	"fmt"
	"testing"

	msqlite "modernc.org/sqlite"

	"github.com/phonefleet/phonefleet"
)

// TestCommandPaths_EqualWork: every command path (reboot, reset, assign,
// unassign, prepare) does the same work in the database for another
// tenant's instances as for instances that do not exist, so its time tells
// nothing about who owns an ID (invariant 4). The work is counted, not
// timed: the pages the writer connection asks its page cache for (hits and
// misses) during the operation must be the same for 4 foreign IDs as for 4
// missing ones.
func TestCommandPaths_EqualWork(t *testing.T) {
	db := MustOpenDB(t, nil)
	ctx := context.Background()
	tenant := func(name string) string {
		tn := &phonefleet.Tenant{Name: name}
		if err := db.CreateTenant(ctx, tn); err != nil {
			t.Fatal(err)
		}
		return tn.ID
	}
	buy := func(tenantID string, n int) []string {
		_, ins, err := db.Purchase(ctx, &phonefleet.PurchaseRequest{
			TenantID: tenantID, OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g", BandSKUID: phonefleet.BandSKUID,
			RegionID: "cn-north-4", NamePrefix: "p", BandSize: 2, Count: n,
			ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
		})
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, in := range ins {
			ids = append(ids, in.ID)
		}
		return ids
	}
	acme, other := tenant("acme"), tenant("other")
	buy(acme, 1500)
	buy(acme, 1500)
	foreign := buy(other, 4)
	missing := make([]string, 4)
	for i := range missing {
		missing[i] = phonefleet.NewInstanceID()
	}
	// pages returns how many pages the writer connection has asked its
	// page cache for so far.
	pages := func() int {
		t.Helper()
		c, err := db.wdb.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var n int
		if err := c.Raw(func(dc any) error {
			for _, op := range []msqlite.DBStatusOp{msqlite.DBStatusCacheHit, msqlite.DBStatusCacheMiss} {
				cur, _, err := dc.(msqlite.DBStatus).Status(op, false)
				if err != nil {
					return err
				}
				n += cur
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
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
			measure := func(ids []string) int {
				t.Helper()
				before := pages()
				if err := tc.run(ids); err == nil {
					t.Fatalf("%s of IDs that are not the tenant's succeeded", tc.name)
				}
				return pages() - before
			}
			measure(missing) // once first, so the statements are prepared for both
			for round := range 3 {
				f, m := measure(foreign), measure(missing)
				if f != m {
					t.Fatalf("%s, round %d: 4 foreign IDs read %d pages, 4 missing IDs %d; want the same work", tc.name, round, f, m)
				}
				if round == 0 {
					t.Logf("%s: %s", tc.name, fmt.Sprintf("%d pages for 4 foreign IDs as for 4 missing ones", f))
				}
			}
		})
	}
}
