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

	t.Run("ActorDryRun", func(t *testing.T) {
		// Every write path keeps who acted and whether it was a preview: a
		// purchase, and previews and unsubscribes one by one and at once
		// (grouped into one write where the store groups them).
		s, _ := mustOpen(t, open)
		tn := mustCreateTenant(t, s, "acme")
		req := monthlyRequest(tn.ID, 8)
		req.Actor = "alice"
		ins := mustPurchase(t, s, req)
		type who struct {
			actor  string
			dryRun bool
		}
		want := map[string]who{req.RequestID: {"alice", false}}
		var wg sync.WaitGroup
		errs := make(chan error, len(ins))
		for i, in := range ins {
			r := &phonefleet.UnsubscribeRequest{
				TenantID: tn.ID, RequestID: fmt.Sprintf("req-%d", i), Actor: fmt.Sprintf("token-%d", i), InstanceIDs: []string{in.ID}, DryRun: i%2 == 0,
			}
			want[r.RequestID] = who{r.Actor, r.DryRun}
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
		// A request without an actor is the system's.
		sys := &phonefleet.UnsubscribeRequest{TenantID: tn.ID, RequestID: "req-sys", InstanceIDs: []string{ins[0].ID}, DryRun: true}
		if _, err := s.Unsubscribe(t.Context(), sys); err != nil {
			t.Fatal(err)
		}
		want["req-sys"] = who{phonefleet.ActorSystem, true}
		es := mustFindAudit(t, s)
		if len(es) != len(want) {
			t.Fatalf("events=%d, want %d", len(es), len(want))
		}
		for _, e := range es {
			if got := (who{e.Actor, e.DryRun}); got != want[e.RequestID] {
				t.Fatalf("event %s: actor, dry run=%+v, want %+v", e.RequestID, got, want[e.RequestID])
			}
		}
	})

	t.Run("Filters", func(t *testing.T) {
		s, clk := mustOpen(t, open)
		a, b := mustCreateTenant(t, s, "a"), mustCreateTenant(t, s, "b")
		start := clk.Now()
		// Ten events of a, one second apart, and one of b between them.
		for i := range 10 {
			e := &phonefleet.AuditEvent{
				TenantID: a.ID, Action: phonefleet.ActionInstanceDelete, Actor: "alice", RequestID: fmt.Sprintf("a-%d", i),
				InstanceIDs: []string{fmt.Sprintf("in%d", i%3), "shared"}, ErrorCode: phonefleet.ECodeOK,
			}
			if i%2 == 1 {
				e.Action, e.Actor = phonefleet.ActionInstanceCreate, "ci-token"
			}
			if err := s.CreateAuditEvent(t.Context(), e); err != nil {
				t.Fatal(err)
			}
			if i == 4 {
				if err := s.CreateAuditEvent(t.Context(), &phonefleet.AuditEvent{
					TenantID: b.ID, Action: phonefleet.ActionInstanceDelete, Actor: "alice", RequestID: "b-0", InstanceIDs: []string{"shared"}, ErrorCode: phonefleet.ECodeOK,
				}); err != nil {
					t.Fatal(err)
				}
			}
			clk.Add(time.Second)
		}
		str := func(v string) *string { return &v }
		at := func(sec int) *time.Time { v := start.Add(time.Duration(sec) * time.Second); return &v }
		for _, tc := range []struct {
			name   string
			filter phonefleet.AuditFilter
			want   []string
		}{
			{"All", phonefleet.AuditFilter{}, []string{"a-9", "a-8", "a-7", "a-6", "a-5", "b-0", "a-4", "a-3", "a-2", "a-1", "a-0"}},
			{"Tenant", phonefleet.AuditFilter{TenantID: &b.ID}, []string{"b-0"}},
			{"Action", phonefleet.AuditFilter{TenantID: &a.ID, Action: str(phonefleet.ActionInstanceCreate)}, []string{"a-9", "a-7", "a-5", "a-3", "a-1"}},
			{"Actor", phonefleet.AuditFilter{Actor: str("alice")}, []string{"a-8", "a-6", "b-0", "a-4", "a-2", "a-0"}},
			{"ActorNone", phonefleet.AuditFilter{Actor: str("alic")}, []string{}},
			{"Instance", phonefleet.AuditFilter{InstanceID: str("in1")}, []string{"a-7", "a-4", "a-1"}},
			{"InstanceNotPrefix", phonefleet.AuditFilter{InstanceID: str("in")}, []string{}},
			{"InstanceShared", phonefleet.AuditFilter{TenantID: &b.ID, InstanceID: str("shared")}, []string{"b-0"}},
			{"SinceUntil", phonefleet.AuditFilter{TenantID: &a.ID, Since: at(3), Until: at(6)}, []string{"a-5", "a-4", "a-3"}},
			{"Combined", phonefleet.AuditFilter{TenantID: &a.ID, Actor: str("alice"), InstanceID: str("in0"), Since: at(1)}, []string{"a-6"}},
			{"Limit", phonefleet.AuditFilter{TenantID: &a.ID, Limit: 3}, []string{"a-9", "a-8", "a-7"}},
			{"Offset", phonefleet.AuditFilter{TenantID: &a.ID, Offset: 8, Limit: 5}, []string{"a-1", "a-0"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				es, err := s.FindAuditEvents(t.Context(), tc.filter)
				if err != nil {
					t.Fatal(err)
				}
				got := []string{}
				for _, e := range es {
					got = append(got, e.RequestID)
				}
				wantIDs(t, "events", got, tc.want)
				n, err := s.CountAuditEvents(t.Context(), tc.filter)
				if err != nil {
					t.Fatal(err)
				}
				// Count ignores paging.
				if tc.filter.Limit == 0 && tc.filter.Offset == 0 && n != len(tc.want) {
					t.Fatalf("CountAuditEvents=%d, want %d", n, len(tc.want))
				} else if tc.filter.Limit > 0 && n != 10 {
					t.Fatalf("CountAuditEvents=%d, want 10 (paging ignored)", n)
				}
			})
		}

		t.Run("BeforeID", func(t *testing.T) {
			// Keyset pages of 4 walk the whole trail once, newest first.
			var got []string
			f := phonefleet.AuditFilter{TenantID: &a.ID, Limit: 4}
			for range 10 {
				es, err := s.FindAuditEvents(t.Context(), f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range es {
					got = append(got, e.RequestID)
				}
				if len(es) < f.Limit {
					break
				}
				f.BeforeID = es[len(es)-1].ID
			}
			wantIDs(t, "pages", got, []string{"a-9", "a-8", "a-7", "a-6", "a-5", "a-4", "a-3", "a-2", "a-1", "a-0"})
			if n, err := s.CountAuditEvents(t.Context(), f); err != nil || n != 10 {
				t.Fatalf("CountAuditEvents=%d, %v, want 10 (before_id ignored)", n, err)
			}
		})
	})
}
