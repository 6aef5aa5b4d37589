package phonefleet_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/phonefleet/phonefleet"
)

// unsubscribeFixture returns instances keyed by ID, as a store would find
// them: tenant t1's, plus t2's "foreign" and "foreignppu" (a store scoping by
// tenant would not return those; PlanUnsubscribe must not trust it to).
func unsubscribeFixture(tb testing.TB) map[string]*phonefleet.Instance {
	tb.Helper()
	m1 := NewPrepaid(tb, phonefleet.BillingModeMonthly, 1, 1990, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
	y1 := NewPrepaid(tb, phonefleet.BillingModeYearly, 1, 19900, "2024-03-01T00:00:00Z", "2025-03-01T00:00:00Z")
	late := NewPrepaid(tb, phonefleet.BillingModeMonthly, 1, 3000, "2024-02-20T00:00:00Z", "2024-03-20T00:00:00Z")
	del := NewPrepaid(tb, phonefleet.BillingModeMonthly, 1, 1990, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
	del.State = phonefleet.InstanceStateDeleting
	rel := NewPrepaid(tb, phonefleet.BillingModeYearly, 1, 19900, "2024-03-01T00:00:00Z", "2025-03-01T00:00:00Z")
	rel.State = phonefleet.InstanceStateReleased
	foreign := NewPrepaid(tb, phonefleet.BillingModeMonthly, 1, 1990, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
	foreign.TenantID = "t2"
	ppu := &phonefleet.Instance{TenantID: "t1", BillingMode: phonefleet.BillingModePayPerUse, StartsAt: MustTime(tb, "2024-03-01T00:00:00Z"), State: phonefleet.InstanceStateRunning}
	ppu2 := *ppu
	foreignPPU := *ppu
	foreignPPU.TenantID = "t2"

	m := map[string]*phonefleet.Instance{
		"m1": m1, "y1": y1, "late": late, "del": del, "rel": rel,
		"ppu": ppu, "ppu2": &ppu2, "foreign": foreign, "foreignppu": &foreignPPU,
	}
	for id, in := range m {
		in.ID, in.OrderID = id, "order-"+id
	}
	return m
}

func TestPlanUnsubscribe_Errors(t *testing.T) {
	now := MustTime(t, "2024-03-03T12:00:00Z")
	for _, tt := range []struct {
		name string
		ids  []string
		code string
		msg  string
	}{
		{"ErrNotOwned/Missing", []string{"nosuch"}, phonefleet.ENotOwned,
			"instances do not belong to the tenant: nosuch"},
		{"ErrNotOwned/Foreign", []string{"foreign"}, phonefleet.ENotOwned,
			"instances do not belong to the tenant: foreign"},
		// Every offender, in request order (not sorted), and none of the owned ones.
		{"ErrNotOwned/AllInRequestOrder", []string{"zz", "m1", "foreign", "aa", "del"}, phonefleet.ENotOwned,
			"instances do not belong to the tenant: zz, foreign, aa"},
		// Ownership is checked before billing mode: a pay-per-use ID in the
		// same request is not reported.
		{"ErrNotOwned/BeforePayPerUse", []string{"ppu", "nosuch"}, phonefleet.ENotOwned,
			"instances do not belong to the tenant: nosuch"},
		// Another tenant's pay-per-use instance is not owned; saying 5001 would leak it.
		{"ErrNotOwned/ForeignPayPerUse", []string{"foreignppu"}, phonefleet.ENotOwned,
			"instances do not belong to the tenant: foreignppu"},
		{"ErrPayPerUse", []string{"ppu"}, phonefleet.EPayPerUse,
			"pay-per-use instances cannot be unsubscribed: ppu"},
		{"ErrPayPerUse/AllInRequestOrder", []string{"ppu2", "m1", "ppu", "del"}, phonefleet.EPayPerUse,
			"pay-per-use instances cannot be unsubscribed: ppu2, ppu"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			found := unsubscribeFixture(t)
			plan, err := phonefleet.PlanUnsubscribe(&phonefleet.UnsubscribeRequest{TenantID: "t1", InstanceIDs: tt.ids}, found, now)
			if got := phonefleet.ErrorCode(err); got != tt.code {
				t.Fatalf("ErrorCode=%q, want %q (err %v)", got, tt.code, err)
			}
			if got := phonefleet.ErrorMessage(err); got != tt.msg {
				t.Fatalf("ErrorMessage=%q, want %q", got, tt.msg)
			}
			if plan != nil {
				t.Fatalf("plan=%+v, want nil on error", plan)
			}
			orig := unsubscribeFixture(t)
			for id, in := range found {
				if want := orig[id].State; in.State != want {
					t.Fatalf("%s State=%s, want %s: planning must not change instances", id, in.State, want)
				}
			}
		})
	}
}

func TestPlanUnsubscribe_ForeignLooksMissing(t *testing.T) {
	// The same ID, once absent and once another tenant's instance, must give
	// byte-for-byte the same error.
	now := MustTime(t, "2024-03-03T12:00:00Z")
	for _, foreignMode := range []phonefleet.BillingMode{phonefleet.BillingModeMonthly, phonefleet.BillingModePayPerUse} {
		t.Run(string(foreignMode), func(t *testing.T) {
			foreign := NewPrepaid(t, foreignMode, 1, 1990, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
			foreign.ID, foreign.TenantID = "x1", "t2"
			_, errMissing := phonefleet.PlanUnsubscribe(&phonefleet.UnsubscribeRequest{TenantID: "t1", InstanceIDs: []string{"x1"}}, map[string]*phonefleet.Instance{}, now)
			_, errForeign := phonefleet.PlanUnsubscribe(&phonefleet.UnsubscribeRequest{TenantID: "t1", InstanceIDs: []string{"x1"}}, map[string]*phonefleet.Instance{"x1": foreign}, now)
			if errMissing == nil || errForeign == nil {
				t.Fatalf("errors=%v/%v, want both ENotOwned", errMissing, errForeign)
			}
			if errMissing.Error() != errForeign.Error() {
				t.Fatalf("foreign error %q differs from missing error %q", errForeign, errMissing)
			}
		})
	}
}

func TestPlanUnsubscribe_OK(t *testing.T) {
	now := MustTime(t, "2024-03-03T12:00:00Z")
	found := unsubscribeFixture(t)
	plan, err := phonefleet.PlanUnsubscribe(&phonefleet.UnsubscribeRequest{TenantID: "t1", InstanceIDs: []string{"m1", "del", "late", "rel", "y1"}}, found, now)
	if err != nil {
		t.Fatal(err)
	}

	// m1 and y1 started 2 d 12 h ago: full refunds of 1990 and 19900.
	// late: 2024-02-20 00:00 → 2024-03-20 00:00 = 29 d = 696 h, used 12 d 12 h = 300 h:
	//   consumed = 3000 × 300 / 696 = 900000 / 696 = 1293 (696 × 1293 = 899928),
	//   fee = 300, amount = 3000 − 1293 − 300 = 1407.
	// del and rel are no-ops.
	want := []struct {
		id                          string
		noop                        bool
		paid, consumed, fee, amount int64
	}{
		{"m1", false, 1990, 0, 0, 1990},
		{"del", true, 1990, 0, 0, 0},
		{"late", false, 3000, 1293, 300, 1407},
		{"rel", true, 19900, 0, 0, 0},
		{"y1", false, 19900, 0, 0, 19900},
	}
	if len(plan.Items) != len(want) {
		t.Fatalf("len(Items)=%d, want %d", len(plan.Items), len(want))
	}
	for i, w := range want {
		it := plan.Items[i]
		if it.InstanceID != w.id || it.Noop != w.noop {
			t.Fatalf("Items[%d]=%s noop=%v, want %s noop=%v", i, it.InstanceID, it.Noop, w.id, w.noop)
		}
		CheckRefund(t, it.Refund, w.paid, w.consumed, w.fee, w.amount)
		if it.Refund.InstanceID != w.id || it.Refund.TenantID != "t1" || it.Refund.OrderID != "order-"+w.id || it.Refund.Currency != "USD" {
			t.Fatalf("Items[%d].Refund ids=%q/%q/%q/%q, want %s/t1/order-%s/USD",
				i, it.Refund.InstanceID, it.Refund.TenantID, it.Refund.OrderID, it.Refund.Currency, w.id, w.id)
		}
		if !it.Noop && !it.Refund.CreatedAt.Equal(now) {
			t.Fatalf("Items[%d].Refund.CreatedAt=%v, want %v", i, it.Refund.CreatedAt, now)
		}
	}
	// 1990 + 1407 + 19900 = 23297; the no-ops add nothing.
	if plan.TotalRefund != 23297 {
		t.Fatalf("TotalRefund=%d, want 23297", plan.TotalRefund)
	}
	if plan.Currency != "USD" {
		t.Fatalf("Currency=%q, want USD", plan.Currency)
	}

	var changed []string
	for _, it := range plan.Changes() {
		changed = append(changed, it.InstanceID)
	}
	if got, want := strings.Join(changed, ","), "m1,late,y1"; got != want {
		t.Fatalf("Changes()=%s, want %s", got, want)
	}

	// Planning is pure: the instances keep their states.
	for id, want := range map[string]phonefleet.InstanceState{
		"m1": phonefleet.InstanceStateRunning, "late": phonefleet.InstanceStateRunning,
		"del": phonefleet.InstanceStateDeleting, "rel": phonefleet.InstanceStateReleased,
	} {
		if got := found[id].State; got != want {
			t.Fatalf("%s State=%s, want %s", id, got, want)
		}
	}
}

func TestPlanUnsubscribe_AllNoop(t *testing.T) {
	now := MustTime(t, "2024-03-03T12:00:00Z")
	plan, err := phonefleet.PlanUnsubscribe(&phonefleet.UnsubscribeRequest{TenantID: "t1", InstanceIDs: []string{"rel", "del"}}, unsubscribeFixture(t), now)
	if err != nil {
		t.Fatalf("err=%v, want nil: a batch of already unsubscribed instances succeeds", err)
	}
	if len(plan.Items) != 2 || !plan.Items[0].Noop || !plan.Items[1].Noop {
		t.Fatalf("Items=%+v, want two no-ops", plan.Items)
	}
	if plan.TotalRefund != 0 {
		t.Fatalf("TotalRefund=%d, want 0", plan.TotalRefund)
	}
	if got := len(plan.Changes()); got != 0 {
		t.Fatalf("len(Changes())=%d, want 0", got)
	}
}

func TestPlanUnsubscribe_TotalRefundSums(t *testing.T) {
	// 100 monthly instances in their first five days, paid 1..100: the total
	// is 1 + 2 + … + 100 = 100 × 101 / 2 = 5050.
	now := MustTime(t, "2024-03-02T00:00:00Z")
	found := map[string]*phonefleet.Instance{}
	var ids []string
	for i := 1; i <= 100; i++ {
		in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, int64(i), "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
		in.ID = fmt.Sprintf("i%03d", i)
		found[in.ID] = in
		ids = append(ids, in.ID)
	}
	plan, err := phonefleet.PlanUnsubscribe(&phonefleet.UnsubscribeRequest{TenantID: "t1", InstanceIDs: ids}, found, now)
	if err != nil {
		t.Fatal(err)
	}
	if plan.TotalRefund != 5050 {
		t.Fatalf("TotalRefund=%d, want 5050", plan.TotalRefund)
	}
	if got := len(plan.Changes()); got != 100 {
		t.Fatalf("len(Changes())=%d, want 100", got)
	}
}

func TestUnsubscribePlan_Changes(t *testing.T) {
	for _, tt := range []struct {
		name  string
		items []phonefleet.UnsubscribeItem
		want  string
	}{
		{"Empty", nil, ""},
		{"AllNoop", []phonefleet.UnsubscribeItem{{InstanceID: "a", Noop: true}}, ""},
		{"Mixed", []phonefleet.UnsubscribeItem{{InstanceID: "a"}, {InstanceID: "b", Noop: true}, {InstanceID: "c"}}, "a,c"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := &phonefleet.UnsubscribePlan{Items: tt.items}
			var ids []string
			for _, it := range p.Changes() {
				ids = append(ids, it.InstanceID)
			}
			if got := strings.Join(ids, ","); got != tt.want {
				t.Fatalf("Changes()=%q, want %q", got, tt.want)
			}
		})
	}
}

func TestValidateInstanceIDs(t *testing.T) {
	ids := func(n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("id%d", i)
		}
		return out
	}
	id32 := strings.Repeat("a", 32)
	for _, tt := range []struct {
		name string
		ids  []string
		ok   bool
		msg  string // substring of the message besides the field name
	}{
		{"OK/One", []string{"XvH39QVW"}, true, ""},
		{"OK/100", ids(100), true, ""},
		{"OK/32Chars", []string{id32}, true, ""},
		{"OK/AllAllowedChars", []string{"AZaz09_-", "-", "_"}, true, ""},
		{"ErrNil", nil, false, "1-100"},
		{"ErrEmpty", []string{}, false, "1-100"},
		{"Err101", ids(101), false, "at most 100"},
		{"Err33Chars", []string{"ok", id32 + "a"}, false, "[1]"},
		{"ErrEmptyID", []string{""}, false, "[0]"},
		{"ErrSpace", []string{"a b"}, false, "[0]"},
		{"ErrDot", []string{"ok", "ok2", "a.b"}, false, "[2]"},
		{"ErrSlash", []string{"a/b"}, false, "[0]"},
		{"ErrPlus", []string{"a+b"}, false, "[0]"},
		{"ErrNewline", []string{"ab\n"}, false, "[0]"},
		{"ErrNonASCII", []string{"ä"}, false, "[0]"},
		{"ErrDuplicate", []string{"a1", "b2", "a1"}, false, `"a1"`},
		{"ErrCaseIsDistinct", []string{"Ab", "ab", "Ab"}, false, `"Ab"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, field := range []string{"instanceIdList", "instance_ids"} {
				err := phonefleet.ValidateInstanceIDs(field, tt.ids)
				if tt.ok {
					if err != nil {
						t.Fatalf("err=%v, want nil", err)
					}
					continue
				}
				if got := phonefleet.ErrorCode(err); got != phonefleet.EInvalid {
					t.Fatalf("ErrorCode=%q, want %q", got, phonefleet.EInvalid)
				}
				msg := phonefleet.ErrorMessage(err)
				if !strings.Contains(msg, field) || !strings.Contains(msg, tt.msg) {
					t.Fatalf("ErrorMessage=%q, want it to name %q and contain %q", msg, field, tt.msg)
				}
			}
		})
	}

	t.Run("CaseIsDistinct", func(t *testing.T) {
		if err := phonefleet.ValidateInstanceIDs("instanceIdList", []string{"Ab", "ab", "AB"}); err != nil {
			t.Fatalf("err=%v, want nil: IDs differing in case are different IDs", err)
		}
	})
}

// TestPlanUnsubscribe_RefundIDs checks that each refund of a plan carries
// the request's tenant and request IDs and the plan's time: the stores
// write the refunds as planned.
func TestPlanUnsubscribe_RefundIDs(t *testing.T) {
	now := MustTime(t, "2024-03-02T00:00:00Z")
	in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, 1990, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
	in.ID, in.TenantID = "m1", "t1"
	req := &phonefleet.UnsubscribeRequest{TenantID: "t1", RequestID: "req-7", InstanceIDs: []string{"m1"}}
	plan, err := phonefleet.PlanUnsubscribe(req, map[string]*phonefleet.Instance{"m1": in}, now)
	if err != nil {
		t.Fatal(err)
	}
	r := plan.Changes()[0].Refund
	if r.TenantID != "t1" || r.RequestID != "req-7" || !r.CreatedAt.Equal(now) || r.InstanceID != "m1" {
		t.Fatalf("refund=%+v, want tenant t1, request req-7, created at %v", r, now)
	}
}
