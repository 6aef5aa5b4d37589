package phonefleet_test

import (
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// payPerUseFixture returns instances keyed by ID as a store would find
// them: tenant t1's pay-per-use "p1", "p2", "p3" (running, p3 with a reboot
// in flight), "pdel" (deleting), "prel" (released), its yearly/monthly "m1",
// "mrel" (released) and "mexp" (expired), and t2's "foreign" (pay-per-use).
func payPerUseFixture(tb testing.TB) map[string]*phonefleet.Instance {
	tb.Helper()
	ppu := func(state phonefleet.InstanceState) *phonefleet.Instance {
		return &phonefleet.Instance{TenantID: "t1", BillingMode: phonefleet.BillingModePayPerUse,
			StartsAt: MustTime(tb, "2024-03-01T00:00:00Z"), State: state}
	}
	m := map[string]*phonefleet.Instance{
		"p1": ppu(phonefleet.InstanceStateRunning), "p2": ppu(phonefleet.InstanceStateRunning), "p3": ppu(phonefleet.InstanceStateRunning),
		"pdel": ppu(phonefleet.InstanceStateDeleting), "prel": ppu(phonefleet.InstanceStateReleased),
		"m1":      NewPrepaid(tb, phonefleet.BillingModeMonthly, 1, 1990, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z"),
		"mrel":    NewPrepaid(tb, phonefleet.BillingModeYearly, 1, 19900, "2024-03-01T00:00:00Z", "2025-03-01T00:00:00Z"),
		"mexp":    NewPrepaid(tb, phonefleet.BillingModeMonthly, 1, 1990, "2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z"),
		"foreign": ppu(phonefleet.InstanceStateRunning),
	}
	m["p3"].Command, m["p3"].CommandID = phonefleet.CommandReboot, "job-p3"
	m["mrel"].State, m["mexp"].State = phonefleet.InstanceStateReleased, phonefleet.InstanceStateExpired
	m["foreign"].TenantID = "t2"
	for id, in := range m {
		in.ID = id
	}
	return m
}

func TestPlanDeletePayPerUse_Errors(t *testing.T) {
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
		{"ErrNotOwned/AllInRequestOrder", []string{"zz", "p1", "foreign", "aa", "pdel"}, phonefleet.ENotOwned,
			"instances do not belong to the tenant: zz, foreign, aa"},
		// Ownership is checked before billing mode.
		{"ErrNotOwned/BeforeBillingMode", []string{"m1", "nosuch"}, phonefleet.ENotOwned,
			"instances do not belong to the tenant: nosuch"},
		{"ErrPrepaid", []string{"m1"}, phonefleet.EInvalid,
			"instanceIdList: not pay-per-use instances: m1 (unsubscribe yearly/monthly instances with POST /v1/instances/delete)"},
		// Every yearly/monthly one in request order, whatever its state.
		{"ErrPrepaid/AllInRequestOrder", []string{"mexp", "p1", "mrel", "pdel", "m1"}, phonefleet.EInvalid,
			"instanceIdList: not pay-per-use instances: mexp, mrel, m1 (unsubscribe yearly/monthly instances with POST /v1/instances/delete)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			found := payPerUseFixture(t)
			plan, err := phonefleet.PlanDeletePayPerUse(&phonefleet.DeletePayPerUseRequest{TenantID: "t1", InstanceIDs: tt.ids}, found, now)
			if got := phonefleet.ErrorCode(err); got != tt.code {
				t.Fatalf("ErrorCode=%q, want %q (err %v)", got, tt.code, err)
			} else if got := phonefleet.ErrorMessage(err); got != tt.msg {
				t.Fatalf("ErrorMessage=%q, want %q", got, tt.msg)
			} else if plan != nil {
				t.Fatalf("plan=%+v, want nil on error", plan)
			}
		})
	}
}

func TestPlanDeletePayPerUse_ForeignLooksMissing(t *testing.T) {
	now := MustTime(t, "2024-03-03T12:00:00Z")
	for _, mode := range []phonefleet.BillingMode{phonefleet.BillingModeMonthly, phonefleet.BillingModePayPerUse} {
		t.Run(string(mode), func(t *testing.T) {
			foreign := &phonefleet.Instance{ID: "x1", TenantID: "t2", BillingMode: mode, State: phonefleet.InstanceStateRunning}
			req := &phonefleet.DeletePayPerUseRequest{TenantID: "t1", InstanceIDs: []string{"x1"}}
			_, errMissing := phonefleet.PlanDeletePayPerUse(req, map[string]*phonefleet.Instance{}, now)
			_, errForeign := phonefleet.PlanDeletePayPerUse(req, map[string]*phonefleet.Instance{"x1": foreign}, now)
			if errMissing == nil || errForeign == nil || errMissing.Error() != errForeign.Error() {
				t.Fatalf("missing %v, foreign %v: want the same ENotOwned", errMissing, errForeign)
			}
		})
	}
}

func TestPlanDeletePayPerUse_OK(t *testing.T) {
	now := time.Date(2024, 3, 3, 20, 0, 5, 0, time.FixedZone("X", 8*3600))
	found := payPerUseFixture(t)
	plan, err := phonefleet.PlanDeletePayPerUse(&phonefleet.DeletePayPerUseRequest{TenantID: "t1", InstanceIDs: []string{"p2", "pdel", "p3", "prel"}}, found, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []phonefleet.DeletePayPerUseItem{
		{InstanceID: "p2"}, {InstanceID: "pdel", Noop: true}, {InstanceID: "p3", CancelJobID: "job-p3"}, {InstanceID: "prel", Noop: true},
	}
	if len(plan.Items) != len(want) {
		t.Fatalf("Items=%+v, want %+v", plan.Items, want)
	}
	for i := range want {
		if plan.Items[i] != want[i] {
			t.Fatalf("Items[%d]=%+v, want %+v", i, plan.Items[i], want[i])
		}
	}
	if !plan.ChargeEndedAt.Equal(now) || plan.ChargeEndedAt.Location() != time.UTC {
		t.Fatalf("ChargeEndedAt=%v, want %v in UTC", plan.ChargeEndedAt, now.UTC())
	}
	var changed []string
	for _, it := range plan.Changes() {
		changed = append(changed, it.InstanceID)
	}
	if got := strings.Join(changed, ","); got != "p2,p3" {
		t.Fatalf("Changes()=%s, want p2,p3", got)
	}
	// Planning is pure.
	if found["p2"].State != phonefleet.InstanceStateRunning || found["p3"].CommandID != "job-p3" {
		t.Fatalf("planning changed the instances: %+v, %+v", found["p2"], found["p3"])
	}
}

func TestPlanDeletePayPerUse_AllNoop(t *testing.T) {
	plan, err := phonefleet.PlanDeletePayPerUse(&phonefleet.DeletePayPerUseRequest{TenantID: "t1", InstanceIDs: []string{"prel", "pdel"}},
		payPerUseFixture(t), MustTime(t, "2024-03-03T12:00:00Z"))
	if err != nil {
		t.Fatalf("err=%v, want nil: a batch of already deleted instances succeeds", err)
	} else if len(plan.Items) != 2 || len(plan.Changes()) != 0 {
		t.Fatalf("Items=%+v, want two no-ops", plan.Items)
	}
}

func TestDeletePayPerUseAuditEvent(t *testing.T) {
	now := MustTime(t, "2024-03-03T12:00:00Z")
	plan := &phonefleet.DeletePayPerUsePlan{Items: []phonefleet.DeletePayPerUseItem{{InstanceID: "a"}, {InstanceID: "b", Noop: true}}, ChargeEndedAt: now}
	for _, tt := range []struct {
		name   string
		req    phonefleet.DeletePayPerUseRequest
		actor  string
		detail string
	}{
		{"User", phonefleet.DeletePayPerUseRequest{TenantID: "t1", UserName: "alice", RequestID: "r1", InstanceIDs: []string{"a", "b"}},
			"alice", "deleted 1 pay-per-use, no-op 1, charges end at 2024-03-03T12:00:00Z"},
		{"DryRunSystem", phonefleet.DeletePayPerUseRequest{TenantID: "t1", RequestID: "r1", InstanceIDs: []string{"a", "b"}, DryRun: true},
			phonefleet.ActorSystem, "dry run: would have deleted 1 pay-per-use, no-op 1, charges end at 2024-03-03T12:00:00Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := phonefleet.DeletePayPerUseAuditEvent(&tt.req, plan, now)
			if e.Action != phonefleet.ActionInstanceDeletePayPerUse || e.ErrorCode != phonefleet.ECodeOK || e.Actor != tt.actor ||
				e.Detail != tt.detail || e.DryRun != tt.req.DryRun || !e.At.Equal(now) || strings.Join(e.InstanceIDs, ",") != "a,b" {
				t.Fatalf("event=%+v, want actor %q detail %q", e, tt.actor, tt.detail)
			}
		})
	}
}
