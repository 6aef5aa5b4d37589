package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// Focused tests of the PostgreSQL specifics: locking, retries, leases. The
// behaviour every store shares is checked by storetest.

func TestDB_Tenants(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t, nil)
	a := MustCreateTenant(t, db, "acme")
	if a.ID == "" || a.CreatedAt.IsZero() {
		t.Fatalf("tenant=%+v, want ID and CreatedAt", a)
	}
	if err := db.CreateTenant(ctx, &phonefleet.Tenant{Name: "acme"}); phonefleet.ErrorCode(err) != phonefleet.EConflict {
		t.Fatalf("ErrorCode=%q, want %q", phonefleet.ErrorCode(err), phonefleet.EConflict)
	}
	got, err := db.FindTenantByName(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	} else if got.ID != a.ID || !got.CreatedAt.Equal(a.CreatedAt) || got.CreatedAt.Location() != time.UTC {
		t.Fatalf("FindTenantByName=%+v, want %+v in UTC", got, a)
	}
	if _, err := db.FindTenantByName(ctx, "nope"); phonefleet.ErrorCode(err) != phonefleet.ENotFound {
		t.Fatalf("ErrorCode=%q, want %q", phonefleet.ErrorCode(err), phonefleet.ENotFound)
	}
}

func TestDB_Tokens(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	db := MustOpenDB(t, func() time.Time { return now })
	ten := MustCreateTenant(t, db, "acme")
	secret, id := phonefleet.NewTokenSecret()
	actions, _ := phonefleet.RoleActions(phonefleet.RoleAdmin)
	tok := &phonefleet.Token{ID: id, TenantID: ten.ID, Name: "ci", Actions: actions, Hash: phonefleet.HashToken(secret),
		CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := db.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := db.FindTokenByHash(ctx, phonefleet.HashToken(secret))
	if err != nil {
		t.Fatal(err)
	} else if got.ID != id || got.TenantName != "acme" || !slices.Equal(got.Actions, actions) || got.RevokedAt != nil {
		t.Fatalf("FindTokenByHash=%+v", got)
	}
	if err := db.RevokeToken(ctx, id); err != nil {
		t.Fatal(err)
	}
	if got, err = db.FindTokenByHash(ctx, phonefleet.HashToken(secret)); err != nil {
		t.Fatal(err)
	} else if got.RevokedAt == nil || !got.RevokedAt.Equal(now) {
		t.Fatalf("RevokedAt=%v, want %v", got.RevokedAt, now)
	} else if phonefleet.ErrorCode(got.Check(now)) != phonefleet.EUnauthorized {
		t.Fatalf("Check=%v, want unauthorized", got.Check(now))
	}
	if err := db.RevokeToken(ctx, "tknope"); phonefleet.ErrorCode(err) != phonefleet.ENotFound {
		t.Fatalf("ErrorCode=%q, want %q", phonefleet.ErrorCode(err), phonefleet.ENotFound)
	}
}

func TestDB_Unsubscribe(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	db := MustOpenDB(t, func() time.Time { return now })
	acme, other := MustCreateTenant(t, db, "acme"), MustCreateTenant(t, db, "other")
	ins := MustPurchase(t, db, acme.ID, 3, true)
	ppu := MustPurchase(t, db, acme.ID, 1, false)
	foreign := MustPurchase(t, db, other.ID, 1, true)

	t.Run("ErrNotOwned", func(t *testing.T) {
		_, err := db.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{TenantID: acme.ID, RequestID: "r1",
			InstanceIDs: []string{ins[0].ID, foreign[0].ID, "missing1"}})
		if got, want := phonefleet.ErrorCode(err), phonefleet.ENotOwned; got != want {
			t.Fatalf("ErrorCode=%q, want %q", got, want)
		}
		MustStates(t, db, acme.ID, map[string]phonefleet.InstanceState{ins[0].ID: phonefleet.InstanceStateRunning})
		// The store writes no event for the failure: the HTTP layer audits it.
		events, err := db.FindAuditEvents(ctx, phonefleet.AuditFilter{TenantID: &acme.ID})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if e.RequestID == "r1" {
				t.Fatalf("audit event %+v written for the failed r1", e)
			}
		}
	})

	t.Run("ErrPayPerUse", func(t *testing.T) {
		_, err := db.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{TenantID: acme.ID, InstanceIDs: []string{ins[0].ID, ppu[0].ID}})
		if got, want := phonefleet.ErrorCode(err), phonefleet.EPayPerUse; got != want {
			t.Fatalf("ErrorCode=%q, want %q", got, want)
		}
	})

	t.Run("DryRun", func(t *testing.T) {
		plan, err := db.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{TenantID: acme.ID, InstanceIDs: []string{ins[0].ID}, DryRun: true})
		if err != nil {
			t.Fatal(err)
		} else if got, want := plan.TotalRefund, ins[0].PaidAmount; got != want {
			t.Fatalf("TotalRefund=%d, want %d", got, want)
		}
		MustStates(t, db, acme.ID, map[string]phonefleet.InstanceState{ins[0].ID: phonefleet.InstanceStateRunning})
	})

	t.Run("OK", func(t *testing.T) {
		req := &phonefleet.UnsubscribeRequest{TenantID: acme.ID, RequestID: "r2", InstanceIDs: []string{ins[1].ID, ins[0].ID}}
		plan, err := db.Unsubscribe(ctx, req)
		if err != nil {
			t.Fatal(err)
		} else if got, want := plan.TotalRefund, 2*ins[0].PaidAmount; got != want {
			t.Fatalf("TotalRefund=%d, want %d", got, want)
		}
		MustStates(t, db, acme.ID, map[string]phonefleet.InstanceState{
			ins[0].ID: phonefleet.InstanceStateDeleting, ins[1].ID: phonefleet.InstanceStateDeleting, ins[2].ID: phonefleet.InstanceStateRunning,
		})
		// Again: no-ops, no second refund.
		if plan, err = db.Unsubscribe(ctx, req); err != nil {
			t.Fatal(err)
		} else if plan.TotalRefund != 0 || len(plan.Changes()) != 0 {
			t.Fatalf("second plan=%+v, want no-ops", plan)
		}
		refunds, err := db.FindRefunds(ctx, phonefleet.RefundFilter{TenantID: &acme.ID})
		if err != nil {
			t.Fatal(err)
		} else if len(refunds) != 2 || refunds[0].RequestID != "r2" || refunds[0].Amount != ins[0].PaidAmount {
			t.Fatalf("refunds=%+v, want 2 of r2", refunds)
		}
		jobs, err := db.FindCommands(ctx, phonefleet.CommandFilter{TenantID: &acme.ID})
		if err != nil {
			t.Fatal(err)
		} else if len(jobs) != 2 || jobs[0].State != phonefleet.JobStatePending || jobs[0].TenantName != "acme" || jobs[0].EventID == "" {
			t.Fatalf("jobs=%+v, want 2 pending", jobs)
		}
	})
}

// Overlapping batches running at once neither deadlock nor refund an
// instance twice: every one succeeds and each instance has one refund.
func TestDB_Unsubscribe_Concurrent(t *testing.T) {
	ctx := context.Background()
	db := MustOpenDB(t, nil)
	acme := MustCreateTenant(t, db, "acme")
	ins := MustPurchase(t, db, acme.ID, 40, true)

	const batches, size = 32, 10
	var wg sync.WaitGroup
	errs := make(chan error, batches)
	for b := range batches {
		ids := make([]string, size)
		for i := range ids {
			// Batch b takes a window starting at 3b, alternately reversed, so
			// batches overlap and name shared IDs in opposite orders.
			ids[i] = ins[(3*b+i)%30].ID
		}
		if b%2 == 1 {
			slices.Reverse(ids)
		}
		wg.Go(func() {
			_, err := db.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{TenantID: acme.ID, RequestID: fmt.Sprint("b", b), InstanceIDs: ids})
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("unsubscribe: %v", err)
		}
	}
	refunds, err := db.FindRefunds(ctx, phonefleet.RefundFilter{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, r := range refunds {
		seen[r.InstanceID]++
	}
	for i, in := range ins {
		want := 0
		if i < 30 {
			want = 1
		}
		if seen[in.ID] != want {
			t.Fatalf("refunds of %s=%d, want %d", in.ID, seen[in.ID], want)
		}
	}
}

// Two workers claiming at once never get the same job, and a leased job is
// not claimed again before its lease runs out.
func TestDB_ClaimCommands(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	db := MustOpenDB(t, clock)
	acme := MustCreateTenant(t, db, "acme")
	ins := MustPurchase(t, db, acme.ID, 20, true)
	ids := make([]string, len(ins))
	for i, in := range ins {
		ids[i] = in.ID
	}
	if _, err := db.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{TenantID: acme.ID, InstanceIDs: ids}); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	claimed := make(chan string, 100)
	for w := range 4 {
		wg.Go(func() {
			for {
				jobs, err := db.ClaimCommands(ctx, fmt.Sprint("w", w), 3, time.Minute)
				if err != nil {
					t.Errorf("claim: %v", err)
					return
				} else if len(jobs) == 0 {
					return
				}
				for _, j := range jobs {
					claimed <- j.InstanceID
				}
			}
		})
	}
	wg.Wait()
	close(claimed)
	seen := map[string]bool{}
	for id := range claimed {
		if seen[id] {
			t.Fatalf("job %s claimed twice", id)
		}
		seen[id] = true
	}
	if got, want := len(seen), len(ins); got != want {
		t.Fatalf("claimed %d jobs, want %d", got, want)
	}

	// A failed attempt of the lease owner makes the job due again later; a
	// stranger's failure is ignored.
	all, err := db.FindCommands(ctx, phonefleet.CommandFilter{InstanceID: &ids[0]})
	if err != nil || len(all) != 1 {
		t.Fatalf("FindCommands(%s)=%d, %v", ids[0], len(all), err)
	}
	if err := db.FailCommand(ctx, all[0].ID, "stranger", "boom", now, false); err != nil {
		t.Fatal(err)
	}
	jobs, err := db.FindCommands(ctx, phonefleet.CommandFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, j := range jobs {
		if j.Attempts != 0 {
			t.Fatalf("job %s attempts=%d after a stranger's failure, want 0", j.InstanceID, j.Attempts)
		}
	}

	// Once the leases run out, every job is due again.
	mu.Lock()
	now = now.Add(time.Minute)
	mu.Unlock()
	again, err := db.ClaimCommands(ctx, "w9", 100, time.Minute)
	if err != nil {
		t.Fatal(err)
	} else if got, want := len(again), len(ins); got != want {
		t.Fatalf("reclaimed %d, want %d", got, want)
	}
	for _, j := range again {
		if err := db.CompleteCommand(ctx, j.ID, "w9"); err != nil {
			t.Fatal(err)
		}
		if err := db.CompleteCommand(ctx, j.ID, "w9"); err != nil {
			t.Fatalf("second complete: %v", err)
		}
	}
	states, err := db.FindInstanceStatuses(ctx, acme.ID, ids)
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		if states[id].State != phonefleet.InstanceStateReleased {
			t.Fatalf("state of %s=%s, want released", id, states[id].State)
		}
	}
	if err := db.CompleteCommand(ctx, "nojob", "w9"); phonefleet.ErrorCode(err) != phonefleet.ENotFound {
		t.Fatalf("ErrorCode=%q, want %q", phonefleet.ErrorCode(err), phonefleet.ENotFound)
	}
}

// MustStates checks the states of some of the tenant's instances.
func MustStates(tb testing.TB, db phonefleet.Store, tenantID string, want map[string]phonefleet.InstanceState) {
	tb.Helper()
	ids := make([]string, 0, len(want))
	for id := range want {
		ids = append(ids, id)
	}
	got, err := db.FindInstanceStatuses(context.Background(), tenantID, ids)
	if err != nil {
		tb.Fatal(err)
	}
	for id, w := range want {
		if got[id].State != w {
			tb.Fatalf("state of %s=%q, want %q", id, got[id].State, w)
		}
	}
}
