package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

func testAudit(t *testing.T, open Opener) {
	t.Run("Create", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		e := &phonefleet.AuditEvent{
			TenantID: tn.ID, TokenID: "tk1", ClientAddr: "192.0.2.1", Action: phonefleet.ActionInstanceDelete, RequestID: "req-1",
			InstanceIDs: []string{"b", "a"}, ErrorCode: phonefleet.EInvalid, Detail: "instanceIdList must contain 1-100 instance IDs",
		}
		if err := s.CreateAuditEvent(t.Context(), e); err != nil {
			t.Fatal(err)
		}
		es := mustFindAudit(t, s)
		if len(es) != 1 {
			t.Fatalf("events=%d, want 1", len(es))
		}
		got := es[0]
		if !got.At.Equal(clk.Now()) {
			t.Fatalf("At=%v, want now %v", got.At, clk.Now())
		} else if got.TenantID != tn.ID || got.TenantName != "acme" || got.TokenID != "tk1" || got.Action != e.Action ||
			got.RequestID != "req-1" || got.ClientAddr != "192.0.2.1" || got.ErrorCode != phonefleet.EInvalid || got.Detail != e.Detail {
			t.Fatalf("event=%+v, want %+v", got, e)
		}
		wantIDs(t, "InstanceIDs", got.InstanceIDs, []string{"b", "a"})

		// An explicit time is kept.
		at := clk.Now().Add(-time.Hour)
		if err := s.CreateAuditEvent(t.Context(), &phonefleet.AuditEvent{At: at, TenantID: tn.ID, Action: phonefleet.ActionInstanceCreate, ErrorCode: phonefleet.ECodeOK}); err != nil {
			t.Fatal(err)
		}
		if got := mustFindAudit(t, s)[0]; !got.At.Equal(at) || got.InstanceIDs == nil || len(got.InstanceIDs) != 0 {
			t.Fatalf("At, InstanceIDs=%v, %#v, want %v, empty", got.At, got.InstanceIDs, at)
		}
	})

	t.Run("FindOrderFilterLimit", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		create := func(tenantID, requestID string) {
			t.Helper()
			if err := s.CreateAuditEvent(t.Context(), &phonefleet.AuditEvent{
				TenantID: tenantID, Action: phonefleet.ActionInstanceDelete, RequestID: requestID, ErrorCode: phonefleet.ECodeOK,
			}); err != nil {
				t.Fatal(err)
			}
		}
		create(a.ID, "1")
		clk.Add(time.Second)
		create(b.ID, "2")
		create(a.ID, "3") // same time as 2: insertion order decides
		clk.Add(time.Second)
		create(a.ID, "4")

		find := func(f phonefleet.AuditFilter) []string {
			t.Helper()
			es, err := s.FindAuditEvents(t.Context(), f)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range es {
				out = append(out, e.RequestID)
			}
			return out
		}
		wantIDs(t, "newest first", find(phonefleet.AuditFilter{}), []string{"4", "3", "2", "1"})
		wantIDs(t, "tenant a", find(phonefleet.AuditFilter{TenantID: &a.ID}), []string{"4", "3", "1"})
		wantIDs(t, "limit", find(phonefleet.AuditFilter{Limit: 2}), []string{"4", "3"})
		wantIDs(t, "tenant b, limit", find(phonefleet.AuditFilter{TenantID: &b.ID, Limit: 2}), []string{"2"})
	})

	// A store writes no event for an operation that failed; the caller
	// audits it with phonefleet.FailureAuditEvent and CreateAuditEvent,
	// and the event reads back whole.
	t.Run("Failures", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		req := monthlyRequest(tn.ID, 1)
		req.RegionID = "mars-1"
		_, _, errCreate := s.Purchase(t.Context(), req)
		if errCreate == nil {
			t.Fatal("purchase in mars-1 succeeded")
		}
		_, errDelete := s.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "req-u", InstanceIDs: []string{"nosuchid"}})
		if errDelete == nil {
			t.Fatal("unsubscribe of nosuchid succeeded")
		}
		if es := mustFindAudit(t, s); len(es) != 0 {
			t.Fatalf("events=%+v after two failed operations, want none", es)
		}

		p := &phonefleet.Principal{TenantID: tn.ID, TokenID: "tk-test"}
		for _, e := range []*phonefleet.AuditEvent{
			phonefleet.FailureAuditEvent(phonefleet.ActionInstanceCreate, p, "req-purchase", nil, errCreate, clk.Now()),
			phonefleet.FailureAuditEvent(phonefleet.ActionInstanceDelete, p, "req-u", []string{"nosuchid"}, errDelete, clk.Now()),
		} {
			if err := s.CreateAuditEvent(t.Context(), e); err != nil {
				t.Fatalf("CreateAuditEvent: %v", err)
			}
		}
		es := mustFindAudit(t, s)
		if len(es) != 2 {
			t.Fatalf("events=%d, want 2", len(es))
		}
		if e := es[0]; e.Action != phonefleet.ActionInstanceDelete || e.ErrorCode != phonefleet.ENotOwned || e.TenantName != "acme" ||
			e.RequestID != "req-u" || e.Detail != phonefleet.ErrorMessage(errDelete) || e.TokenID != "tk-test" {
			t.Fatalf("newest event=%+v, want the failed delete", e)
		}
		wantIDs(t, "failed delete InstanceIDs", es[0].InstanceIDs, []string{"nosuchid"})
		if e := es[1]; e.Action != phonefleet.ActionInstanceCreate || e.ErrorCode != phonefleet.ESKUNotFound || len(e.InstanceIDs) != 0 {
			t.Fatalf("oldest event=%+v, want the failed create", e)
		}
	})

	t.Run("ClientAddr", func(t *testing.T) {
		// Every write path keeps the caller's address: a purchase, and
		// unsubscribes one by one and at once (grouped into one write
		// where the store groups them).
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		req := monthlyRequest(tn.ID, 9)
		req.ClientAddr = "192.0.2.1"
		ins := mustPurchase(t, s, req)
		want := map[string]string{req.RequestID: req.ClientAddr}
		var wg sync.WaitGroup
		errs := make(chan error, len(ins))
		for i, in := range ins {
			r := &phonefleet.UnsubscribeRequest{
				TenantID: tn.ID, RequestID: fmt.Sprintf("req-%d", i), ClientAddr: fmt.Sprintf("2001:db8::%d", i), InstanceIDs: []string{in.ID},
			}
			want[r.RequestID] = r.ClientAddr
			wg.Go(func() {
				_, err := s.Unsubscribe(t.Context(), r)
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("Unsubscribe: %v", err)
			}
		}
		es := mustFindAudit(t, s)
		if len(es) != len(want) {
			t.Fatalf("events=%d, want %d", len(es), len(want))
		}
		for _, e := range es {
			if e.ClientAddr != want[e.RequestID] {
				t.Fatalf("event %s: ClientAddr=%q, want %q", e.RequestID, e.ClientAddr, want[e.RequestID])
			}
		}
	})
}
