package phonefleet_test

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// TestPlanExpiry walks every boundary of the lifecycle: each step is due
// exactly at its time and not a nanosecond before.
func TestPlanExpiry(t *testing.T) {
	p := phonefleet.LifecyclePeriods{Grace: 15 * 24 * time.Hour, Retention: 10 * 24 * time.Hour}
	expires := MustTime(t, "2024-04-01T00:00:00Z")
	grace, retention := expires.Add(p.Grace), expires.Add(p.Grace+p.Retention)
	for _, tt := range []struct {
		name    string
		state   phonefleet.InstanceState
		now     time.Time
		want    phonefleet.InstanceState // "": nothing due
		command phonefleet.CommandType
	}{
		{"Running/BeforeExpiry", phonefleet.InstanceStateRunning, expires.Add(-time.Nanosecond), "", ""},
		{"Running/AtExpiry", phonefleet.InstanceStateRunning, expires, phonefleet.InstanceStateExpired, ""},
		{"Running/LongAfter", phonefleet.InstanceStateRunning, retention.Add(time.Hour), phonefleet.InstanceStateExpired, ""},
		{"Expired/BeforeGraceEnds", phonefleet.InstanceStateExpired, grace.Add(-time.Nanosecond), "", ""},
		{"Expired/AtGraceEnd", phonefleet.InstanceStateExpired, grace, phonefleet.InstanceStateFrozen, phonefleet.CommandFreeze},
		{"Frozen/BeforeRetentionEnds", phonefleet.InstanceStateFrozen, retention.Add(-time.Nanosecond), "", ""},
		{"Frozen/AtRetentionEnd", phonefleet.InstanceStateFrozen, retention, phonefleet.InstanceStateDeleting, phonefleet.CommandRelease},
		{"Deleting", phonefleet.InstanceStateDeleting, retention.Add(time.Hour), "", ""},
		{"Released", phonefleet.InstanceStateReleased, retention.Add(time.Hour), "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, 1000, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
			in.State, in.CommandID = tt.state, "job_1"
			tr, ok := phonefleet.PlanExpiry(in, p, tt.now)
			if tt.want == "" {
				if ok {
					t.Fatalf("PlanExpiry=%+v, want nothing due", tr)
				}
				return
			}
			if !ok {
				t.Fatalf("PlanExpiry: nothing due, want %s", tt.want)
			}
			if tr.From != tt.state || tr.To != tt.want || tr.Command != tt.command || tr.InstanceID != in.ID || tr.TenantID != in.TenantID {
				t.Fatalf("PlanExpiry=%+v, want %s -> %s with command %q", tr, tt.state, tt.want, tt.command)
			}
			// A step with a command replaces the one in flight.
			if wantCancel := map[bool]string{true: "job_1"}[tt.command != ""]; tr.CancelJobID != wantCancel {
				t.Fatalf("CancelJobID=%q, want %q", tr.CancelJobID, wantCancel)
			}
			if due, _ := phonefleet.LifecycleDue(tt.state, expires, p); !tr.DueAt.Equal(due) {
				t.Fatalf("DueAt=%s, want %s", tr.DueAt, due)
			}
		})
	}

	t.Run("PayPerUse", func(t *testing.T) {
		in := &phonefleet.Instance{ID: "i1", BillingMode: phonefleet.BillingModePayPerUse, State: phonefleet.InstanceStateRunning, ExpiresAt: &expires}
		if tr, ok := phonefleet.PlanExpiry(in, p, retention.Add(time.Hour)); ok {
			t.Fatalf("PlanExpiry=%+v, want no lifecycle for pay-per-use", tr)
		}
	})
	t.Run("ZeroPeriods", func(t *testing.T) {
		// With no grace and no retention every step is due at expiry.
		zero := phonefleet.LifecyclePeriods{}
		in := NewPrepaid(t, phonefleet.BillingModeMonthly, 1, 1000, "2024-03-01T00:00:00Z", "2024-04-01T00:00:00Z")
		for _, want := range []phonefleet.InstanceState{phonefleet.InstanceStateExpired, phonefleet.InstanceStateFrozen, phonefleet.InstanceStateDeleting} {
			tr, ok := phonefleet.PlanExpiry(in, zero, expires)
			if !ok || tr.To != want {
				t.Fatalf("PlanExpiry from %s = %+v, %v; want %s", in.State, tr, ok, want)
			}
			in.State = want
		}
	})
}

// TestLifecycleCutoff checks that the cutoff a store selects by agrees with
// PlanExpiry: an instance expiring at the cutoff is due, one a nanosecond
// later is not.
func TestLifecycleCutoff(t *testing.T) {
	p := phonefleet.LifecyclePeriods{Grace: 36 * time.Hour, Retention: 72 * time.Hour}
	now := MustTime(t, "2024-05-01T12:00:00Z")
	for _, st := range phonefleet.LifecyclePhases {
		cut := phonefleet.LifecycleCutoff(st, p, now)
		for _, tt := range []struct {
			expires time.Time
			due     bool
		}{{cut, true}, {cut.Add(time.Nanosecond), false}} {
			e := tt.expires
			in := &phonefleet.Instance{ID: "i1", BillingMode: phonefleet.BillingModeYearly, State: st, ExpiresAt: &e}
			if _, ok := phonefleet.PlanExpiry(in, p, now); ok != tt.due {
				t.Fatalf("%s expiring %s: due=%v, want %v", st, e, ok, tt.due)
			}
		}
	}
}

func TestPlanSweep_Order(t *testing.T) {
	p := phonefleet.LifecyclePeriods{Grace: 24 * time.Hour, Retention: 24 * time.Hour}
	now := MustTime(t, "2024-05-10T00:00:00Z")
	mk := func(id string, st phonefleet.InstanceState, expires string) *phonefleet.Instance {
		e := MustTime(t, expires)
		return &phonefleet.Instance{ID: id, BillingMode: phonefleet.BillingModeMonthly, State: st, ExpiresAt: &e}
	}
	got := phonefleet.PlanSweep([]*phonefleet.Instance{
		mk("c", phonefleet.InstanceStateRunning, "2024-05-05T00:00:00Z"),  // due 05-05
		mk("a", phonefleet.InstanceStateFrozen, "2024-05-01T00:00:00Z"),   // due 05-03
		mk("b", phonefleet.InstanceStateExpired, "2024-05-03T00:00:00Z"),  // due 05-04
		mk("d", phonefleet.InstanceStateRunning, "2024-05-11T00:00:00Z"),  // not due
		mk("e", phonefleet.InstanceStateExpired, "2024-05-04T00:00:00Z"),  // due 05-05, after c by ID
		mk("f", phonefleet.InstanceStateReleased, "2024-04-01T00:00:00Z"), // no lifecycle
	}, p, now, now, 10)
	var steps []string
	for _, tr := range got {
		steps = append(steps, tr.InstanceID+":"+tr.Label())
	}
	// Each instance takes every step due by now, in the order real time
	// would have taken them (ties by ID): a released 05-03; b froze 05-04;
	// on 05-05 b was released, c expired and e froze; on 05-06 c froze and
	// e was released; c was released 05-07.
	want := []string{"a:released", "b:frozen", "b:released", "c:expired", "e:frozen", "c:frozen", "e:released", "c:released"}
	if !slices.Equal(steps, want) {
		t.Fatalf("PlanSweep=%v, want %v", steps, want)
	}
	if got := phonefleet.PlanSweep([]*phonefleet.Instance{mk("c", phonefleet.InstanceStateRunning, "2024-05-05T00:00:00Z"),
		mk("a", phonefleet.InstanceStateFrozen, "2024-05-01T00:00:00Z")}, p, now, now, 1); len(got) != 1 || got[0].InstanceID != "a" {
		t.Fatalf("PlanSweep limit 1 = %+v, want a only", got)
	}
}

// A step with a command gets it (due at wall, not business time), and a
// later step of the same instance in the same sweep replaces it.
func TestPlanSweep_Commands(t *testing.T) {
	p := phonefleet.LifecyclePeriods{Grace: time.Hour, Retention: time.Hour}
	e := MustTime(t, "2024-05-01T00:00:00Z")
	in := &phonefleet.Instance{ID: "a", TenantID: "t1", BillingMode: phonefleet.BillingModeYearly, State: phonefleet.InstanceStateRunning, ExpiresAt: &e,
		Command: phonefleet.CommandReboot, CommandID: "job_reboot"}
	wall := MustTime(t, "2023-01-01T00:00:00Z")
	got := phonefleet.PlanSweep([]*phonefleet.Instance{in}, p, e.Add(3*time.Hour), wall, 10)
	if len(got) != 3 || got[0].Cmd != nil || got[1].Cmd == nil || got[2].Cmd == nil {
		t.Fatalf("PlanSweep=%+v, want expire without a command, then freeze and release with one", got)
	}
	freeze, release := got[1], got[2]
	if freeze.Cmd.Type != phonefleet.CommandFreeze || freeze.CancelJobID != "job_reboot" || !freeze.Cmd.NextAttemptAt.Equal(wall) ||
		freeze.Cmd.InstanceID != "a" || freeze.Cmd.TenantID != "t1" || freeze.Cmd.RequestID != phonefleet.LifecycleRequestID {
		t.Fatalf("freeze=%+v, cmd %+v", freeze, freeze.Cmd)
	}
	if release.Cmd.Type != phonefleet.CommandRelease || release.CancelJobID != freeze.Cmd.ID {
		t.Fatalf("release=%+v, want it to replace the freeze %s", release, freeze.Cmd.ID)
	}
	if in.State != phonefleet.InstanceStateRunning || in.CommandID != "job_reboot" {
		t.Fatalf("PlanSweep changed its input: %+v", in)
	}
}

func TestInstanceStatus_Lifecycle(t *testing.T) {
	for _, tt := range []struct {
		state                   phonefleet.InstanceState
		running, frozen, expire int
	}{
		{phonefleet.InstanceStateRunning, 2, 0, 0},
		{phonefleet.InstanceStateExpired, 2, 0, 1},
		{phonefleet.InstanceStateFrozen, 1, 1, 1},
		{phonefleet.InstanceStateDeleting, 3, 0, 0},
		{phonefleet.InstanceStateReleased, 0, 0, 0},
	} {
		st := phonefleet.InstanceStatus{State: tt.state}
		if st.RunningStatus() != tt.running || st.FrozenStatus() != tt.frozen || st.ExpireStatus() != tt.expire {
			t.Fatalf("%s: running/frozen/expire=%d/%d/%d, want %d/%d/%d", tt.state,
				st.RunningStatus(), st.FrozenStatus(), st.ExpireStatus(), tt.running, tt.frozen, tt.expire)
		}
	}
}

func TestStoredState_RoundTrip(t *testing.T) {
	for _, st := range phonefleet.InstanceStates {
		if got := phonefleet.JoinState(phonefleet.StoredState(st)); got != st {
			t.Fatalf("JoinState(StoredState(%s))=%s", st, got)
		}
	}
}

// Frozen instances refuse every command with 2004, listing them; expired
// ones still take work.
func TestPlanCommands_Frozen(t *testing.T) {
	frozen := &phonefleet.Instance{ID: "f1", TenantID: "t1", State: phonefleet.InstanceStateFrozen}
	expired := &phonefleet.Instance{ID: "e1", TenantID: "t1", State: phonefleet.InstanceStateExpired}
	found := map[string]*phonefleet.Instance{"f1": frozen, "e1": expired}
	now := MustTime(t, "2024-05-01T00:00:00Z")

	_, err := phonefleet.PlanCommands(&phonefleet.CommandRequest{TenantID: "t1", Type: phonefleet.CommandReboot, InstanceIDs: []string{"e1", "f1"}}, found, now)
	if phonefleet.ErrorCode(err) != phonefleet.EFrozen || phonefleet.ErrorMessage(err) != "the instance already frozen. frozen instances: f1" {
		t.Fatalf("reboot of a frozen instance: %v, want 2004 naming f1", err)
	}
	if _, err := phonefleet.PlanCommands(&phonefleet.CommandRequest{TenantID: "t1", Type: phonefleet.CommandReboot, InstanceIDs: []string{"e1"}}, found, now); err != nil {
		t.Fatalf("reboot of an expired instance: %v, want it to work", err)
	}
	if _, err := phonefleet.PlanAssign(&phonefleet.AssignRequest{TenantID: "t1", Pairs: []phonefleet.UserInstance{{UserID: "u", InstanceID: "f1"}}}, found); phonefleet.ErrorCode(err) != phonefleet.EFrozen {
		t.Fatalf("assign of a frozen instance: %v, want 2004", err)
	}
	if _, err := phonefleet.PlanUnassign(&phonefleet.AssignRequest{TenantID: "t1", Pairs: []phonefleet.UserInstance{{UserID: "u", InstanceID: "f1"}}}, found, now); phonefleet.ErrorCode(err) != phonefleet.EFrozen {
		t.Fatalf("unassign of a frozen instance: %v, want 2004", err)
	}
	if _, err := phonefleet.PlanPrepare(&phonefleet.PrepareRequest{TenantID: "t1", UserID: "u", InstanceIDs: []string{"f1"}}, found); phonefleet.ErrorCode(err) != phonefleet.EFrozen {
		t.Fatalf("prepare of a frozen instance: %v, want 2004", err)
	}
	// A foreign ID is still 1001 before anything is said about frozen ones.
	if _, err := phonefleet.PlanCommands(&phonefleet.CommandRequest{TenantID: "t1", Type: phonefleet.CommandReset, InstanceIDs: []string{"f1", "x"}}, found, now); phonefleet.ErrorCode(err) != phonefleet.EForbidden {
		t.Fatalf("reset naming a foreign ID: %v, want 1001", err)
	}
}

func TestTenant_Periods(t *testing.T) {
	def := phonefleet.DefaultLifecyclePeriods()
	g := phonefleet.Period(48 * time.Hour)
	tn := &phonefleet.Tenant{GracePeriod: &g}
	if got := tn.Periods(def); got.Grace != 48*time.Hour || got.Retention != def.Retention {
		t.Fatalf("Periods=%+v, want grace 48h and the default retention", got)
	}
	b, err := json.Marshal(tn)
	if err != nil {
		t.Fatal(err)
	}
	var back phonefleet.Tenant
	if err := json.Unmarshal(b, &back); err != nil || back.GracePeriod == nil || *back.GracePeriod != g || back.RetentionPeriod != nil {
		t.Fatalf("round trip of %s: %+v, %v", b, back, err)
	}
	if err := (&phonefleet.TenantPeriodsUpdate{Grace: ptr(-time.Second)}).Validate(); phonefleet.ErrorCode(err) != phonefleet.EInvalid {
		t.Fatalf("negative grace: %v, want 1000", err)
	}
}

func ptr[T any](v T) *T { return &v }

// FuzzPeriodUnmarshal: a period decodes from a JSON duration string or
// fails with 1000, and what decodes marshals back to the same duration.
func FuzzPeriodUnmarshal(f *testing.F) {
	for _, s := range []string{`"360h"`, `"1h30m"`, `"0s"`, `360`, `"-1h"`, `""`, `"`, `null`, `"9999999999999h"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var p phonefleet.Period
		if err := p.UnmarshalJSON(b); err != nil {
			if phonefleet.ErrorCode(err) != phonefleet.EInvalid {
				t.Fatalf("UnmarshalJSON(%q): %v, want 1000", b, err)
			}
			return
		}
		out, err := p.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		var back phonefleet.Period
		if err := back.UnmarshalJSON(out); err != nil || back != p {
			t.Fatalf("round trip of %q: %q -> %v, %v", b, out, back, err)
		}
	})
}
