package storetest

import (
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// RunTestClock runs the test clock's suite against stores that open returns
// with the test clock on; they must implement phonefleet.ClockService.
func RunTestClock(t *testing.T, open Opener) {
	clockOf := func(t *testing.T, s phonefleet.Store) phonefleet.ClockService {
		t.Helper()
		c, ok := s.(phonefleet.ClockService)
		if !ok {
			t.Fatalf("%T does not implement phonefleet.ClockService", s)
		}
		return c
	}
	businessNow := func(t *testing.T, c phonefleet.ClockService) time.Time {
		t.Helper()
		now, err := c.BusinessNow(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return now
	}

	t.Run("OK", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		c := clockOf(t, s)
		if got := businessNow(t, c); !got.Equal(clk.Now()) {
			t.Fatalf("BusinessNow=%v before any move, want %v", got, clk.Now())
		}
		target := clk.Now().Add(121 * time.Hour)
		if got, err := c.SetBusinessNow(t.Context(), target); err != nil || !got.Equal(target) {
			t.Fatalf("SetBusinessNow=%v, %v; want %v", got, err, target)
		}
		clk.Add(time.Minute) // real time goes on under the offset
		if got := businessNow(t, c); !got.Equal(target.Add(time.Minute)) {
			t.Fatalf("BusinessNow=%v, want %v", got, target.Add(time.Minute))
		}
		// Moving to the current business time is allowed; back is not,
		// and changes nothing.
		cur := businessNow(t, c)
		if _, err := c.SetBusinessNow(t.Context(), cur); err != nil {
			t.Fatalf("SetBusinessNow(now): %v", err)
		}
		_, err := c.SetBusinessNow(t.Context(), cur.Add(-time.Second))
		wantCode(t, err, phonefleet.EInvalid)
		if got := businessNow(t, c); !got.Equal(cur) {
			t.Fatalf("BusinessNow=%v after a refused move back, want %v", got, cur)
		}
	})

	// Purchases, refunds and the audit trail run on business time; data-
	// plane commands on wall time.
	t.Run("BusinessTime", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		c := clockOf(t, s)
		tn := mustCreateTenant(t, s, "acme")
		bought := mustPurchase(t, s, monthlyRequest(tn.ID, 2))

		// Day 4 of business time: a full refund; day 6: prorated with a fee.
		start := clk.Now()
		if _, err := c.SetBusinessNow(t.Context(), start.Add(4*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		day4 := mustUnsubscribe(t, s, tn.ID, bought[0].ID)
		if it := day4.Items[0].Refund; it.Amount != it.Paid || it.Fee != 0 {
			t.Fatalf("refund on business day 4=%+v, want all of it back", it)
		}
		if _, err := c.SetBusinessNow(t.Context(), start.Add(6*24*time.Hour)); err != nil {
			t.Fatal(err)
		}
		day6 := mustUnsubscribe(t, s, tn.ID, bought[1].ID)
		if it := day6.Items[0].Refund; it.Amount >= it.Paid || it.Consumed == 0 {
			t.Fatalf("refund on business day 6=%+v, want a prorated one", it)
		}
		for _, r := range mustFindRefunds(t, s) {
			if r.InstanceID == bought[1].ID && !r.CreatedAt.Equal(start.Add(6*24*time.Hour)) {
				t.Fatalf("refund created_at=%v, want business time %v", r.CreatedAt, start.Add(6*24*time.Hour))
			}
		}
		later := mustPurchase(t, s, monthlyRequest(tn.ID, 1))[0]
		if !later.StartsAt.Equal(start.Add(6 * 24 * time.Hour)) {
			t.Fatalf("StartsAt=%v, want business time %v", later.StartsAt, start.Add(6*24*time.Hour))
		}
		if e := mustFindAudit(t, s)[0]; !e.At.Equal(start.Add(6 * 24 * time.Hour)) {
			t.Fatalf("audit At=%v, want business time", e.At)
		}

		// The release commands are due on wall time, so the worker claims
		// them at once, and their lease is on wall time too.
		job := mustFindJob(t, s, bought[1].ID)
		if !job.NextAttemptAt.Equal(clk.Now()) {
			t.Fatalf("release NextAttemptAt=%v, want wall time %v", job.NextAttemptAt, clk.Now())
		}
		if got := mustClaim(t, s, "w1", 10, time.Minute); len(got) != 2 {
			t.Fatalf("claimed %v, want both releases at once", got)
		}
	})
}
