package phonefleet_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// fleet returns instances of tenant t1 by ID, as a store loads them:
// run (running, idle), alice (running, assigned to alice), boot (reboot in
// flight), wipe (wipe in flight), del (deleting), rel (released), and
// foreign (tenant t2).
func fleet() map[string]*phonefleet.Instance {
	in := func(id string, st phonefleet.InstanceState, user string, cmd phonefleet.CommandType) *phonefleet.Instance {
		x := &phonefleet.Instance{ID: id, TenantID: "t1", State: st, AssignUser: user, Command: cmd}
		if cmd != "" {
			x.CommandID = "job_" + id
		}
		return x
	}
	return map[string]*phonefleet.Instance{
		"run":     in("run", phonefleet.InstanceStateRunning, "", ""),
		"alice":   in("alice", phonefleet.InstanceStateRunning, "alice", ""),
		"boot":    in("boot", phonefleet.InstanceStateRunning, "alice", phonefleet.CommandReboot),
		"reset":   in("reset", phonefleet.InstanceStateRunning, "", phonefleet.CommandReset),
		"wipe":    in("wipe", phonefleet.InstanceStateRunning, "", phonefleet.CommandWipeUserData),
		"del":     in("del", phonefleet.InstanceStateDeleting, "", phonefleet.CommandRelease),
		"rel":     in("rel", phonefleet.InstanceStateReleased, "", ""),
		"foreign": {ID: "foreign", TenantID: "t2", State: phonefleet.InstanceStateRunning},
	}
}

func pairs(kv ...string) []phonefleet.UserInstance {
	var out []phonefleet.UserInstance
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, phonefleet.UserInstance{UserID: kv[i], InstanceID: kv[i+1]})
	}
	return out
}

func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if phonefleet.ErrorCode(err) != code || phonefleet.ErrorMessage(err) != msg {
		t.Fatalf("err=%v, want %s %q", err, code, msg)
	}
}

func TestPlanAssign(t *testing.T) {
	for _, tt := range []struct {
		name      string
		pairs     []phonefleet.UserInstance
		code, msg string
		noops     []bool
	}{
		{"OK", pairs("bob", "run"), "", "", []bool{false}},
		{"SameUserNoop", pairs("alice", "alice", "bob", "run"), "", "", []bool{true, false}},
		{"ErrForbidden", pairs("bob", "nosuch", "bob", "run", "bob", "foreign"), phonefleet.EForbidden,
			"no permission on instances: nosuch, foreign", nil},
		// Ownership comes first, even when another pair cannot be assigned.
		{"ErrForbiddenFirst", pairs("bob", "del", "bob", "foreign"), phonefleet.EForbidden, "no permission on instances: foreign", nil},
		{"ErrOtherUser", pairs("bob", "alice"), phonefleet.ECannotAssign,
			"instances cannot be assigned (not running, busy, or assigned to another user): alice", nil},
		{"ErrBusyOrGone", pairs("alice", "boot", "bob", "wipe", "bob", "run", "bob", "del", "bob", "rel", "bob", "reset"), phonefleet.ECannotAssign,
			"instances cannot be assigned (not running, busy, or assigned to another user): boot, wipe, del, rel, reset", nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			plan, err := phonefleet.PlanAssign(&phonefleet.AssignRequest{TenantID: "t1", Pairs: tt.pairs}, fleet())
			if tt.code != "" {
				wantErr(t, err, tt.code, tt.msg)
				return
			} else if err != nil {
				t.Fatal(err)
			}
			for i, it := range plan.Items {
				if it.UserInstance != tt.pairs[i] || it.Noop != tt.noops[i] {
					t.Fatalf("item %d=%+v, want %+v noop %v", i, it, tt.pairs[i], tt.noops[i])
				}
			}
		})
	}
}

func TestPlanUnassign(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		name      string
		pairs     []phonefleet.UserInstance
		code, msg string
	}{
		{"OK", pairs("alice", "alice"), "", ""},
		{"ErrForbidden", pairs("alice", "alice", "x", "foreign", "x", "nosuch"), phonefleet.EForbidden, "no permission on instances: foreign, nosuch"},
		// A command in flight (a wipe from an earlier unassign too) is 5005,
		// checked before the binding.
		{"ErrBusy", pairs("alice", "boot", "alice", "wipe", "alice", "alice"), phonefleet.ENotAllRunning, "instances are not all running and idle: boot, wipe"},
		{"ErrDeletingBusy", pairs("bob", "del"), phonefleet.ENotAllRunning, "instances are not all running and idle: del"},
		{"ErrNoBinding", pairs("bob", "alice", "bob", "run", "bob", "rel"), phonefleet.ENoBinding,
			"user-instance bindings do not exist: bob/alice, bob/run, bob/rel"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req := &phonefleet.AssignRequest{TenantID: "t1", RequestID: "req-1", Pairs: tt.pairs}
			plan, err := phonefleet.PlanUnassign(req, fleet(), now)
			if tt.code != "" {
				wantErr(t, err, tt.code, tt.msg)
				return
			} else if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(plan.TaskID, "task_") || len(plan.Commands) != len(tt.pairs) {
				t.Fatalf("plan=%+v", plan)
			}
			for i, c := range plan.Commands {
				want := phonefleet.Command{ID: c.ID, Type: phonefleet.CommandWipeUserData, InstanceID: tt.pairs[i].InstanceID,
					TenantID: "t1", UserID: tt.pairs[i].UserID, TaskID: plan.TaskID, EventID: c.EventID, Deliveries: 1, RequestID: "req-1",
					State: phonefleet.JobStatePending, NextAttemptAt: now, CreatedAt: now}
				if *c != want || !strings.HasPrefix(c.ID, "job_") || !strings.HasPrefix(c.EventID, "evt_") {
					t.Fatalf("command %d=%+v, want %+v", i, *c, want)
				}
			}
		})
	}
}

func TestPlanCommands(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, typ := range []phonefleet.CommandType{phonefleet.CommandReboot, phonefleet.CommandReset} {
		t.Run(string(typ), func(t *testing.T) {
			req := &phonefleet.CommandRequest{TenantID: "t1", RequestID: "req-2", Type: typ, InstanceIDs: []string{"alice", "run"}}
			plan, err := phonefleet.PlanCommands(req, fleet(), now)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range plan.Commands {
				if c.Type != typ || c.InstanceID != req.InstanceIDs[i] || c.TaskID != plan.TaskID || c.UserID != "" ||
					c.State != phonefleet.JobStatePending || !c.NextAttemptAt.Equal(now) || c.RequestID != "req-2" {
					t.Fatalf("command %d=%+v", i, *c)
				}
			}
			if plan.Commands[0].ID == plan.Commands[1].ID || plan.Commands[0].EventID == plan.Commands[1].EventID {
				t.Fatal("two commands share an ID")
			}

			req.InstanceIDs = []string{"foreign", "boot", "nosuch"}
			_, err = phonefleet.PlanCommands(req, fleet(), now)
			wantErr(t, err, phonefleet.EForbidden, "no permission on instances: foreign, nosuch")

			req.InstanceIDs = []string{"run", "boot", "reset", "wipe", "del", "rel", "alice"}
			_, err = phonefleet.PlanCommands(req, fleet(), now)
			wantErr(t, err, phonefleet.ENotAllRunning, "instances are not all running and idle: boot, reset, wipe, del, rel")
		})
	}
}

func TestPlanPrepare(t *testing.T) {
	req := &phonefleet.PrepareRequest{TenantID: "t1", UserID: "alice",
		InstanceIDs: []string{"alice", "run", "boot", "reset", "wipe", "del", "rel"}}
	got, err := phonefleet.PlanPrepare(req, fleet())
	if err != nil {
		t.Fatal(err)
	}
	want := []int{0, 2, 5, 4, 4, 6, 6}
	for i, st := range got {
		if st.InstanceID != req.InstanceIDs[i] || st.Status != want[i] {
			t.Fatalf("status %d=%+v, want %s %d", i, st, req.InstanceIDs[i], want[i])
		}
	}
	req.InstanceIDs = []string{"run", "foreign", "nosuch"}
	_, err = phonefleet.PlanPrepare(req, fleet())
	wantErr(t, err, phonefleet.ENoInstance, "instances do not exist: foreign, nosuch")
}

func TestPlanReport(t *testing.T) {
	done := phonefleet.CommandReport{State: phonefleet.JobStateDone}
	failed := phonefleet.CommandReport{State: phonefleet.JobStateFailed, Error: "disk"}
	for _, tt := range []struct {
		state    phonefleet.JobState
		reported bool // the command ended by a report
		report   phonefleet.CommandReport
		apply    bool
		code     string
	}{
		{phonefleet.JobStatePending, false, done, true, ""},
		{phonefleet.JobStateAccepted, false, done, true, ""},
		{phonefleet.JobStateAccepted, false, failed, true, ""},
		{phonefleet.JobStateDone, true, done, false, ""},
		{phonefleet.JobStateFailed, true, failed, false, ""},
		{phonefleet.JobStateDone, true, failed, false, phonefleet.EJobFinished},
		{phonefleet.JobStateFailed, true, done, false, phonefleet.EJobFinished},
		// Ended otherwise (timeout, last attempt, confirmed at once): any
		// report is late.
		{phonefleet.JobStateFailed, false, failed, false, phonefleet.EJobFinished},
		{phonefleet.JobStateFailed, false, done, false, phonefleet.EJobFinished},
		{phonefleet.JobStateDone, false, done, false, phonefleet.EJobFinished},
		{phonefleet.JobStateCanceled, false, done, false, phonefleet.EJobFinished},
		{phonefleet.JobStateCanceled, false, failed, false, phonefleet.EJobFinished},
	} {
		t.Run(fmt.Sprintf("%s/reported=%v/%s", tt.state, tt.reported, tt.report.State), func(t *testing.T) {
			apply, err := phonefleet.PlanReport(&phonefleet.Command{ID: "job_1", State: tt.state, Reported: tt.reported}, tt.report)
			if apply != tt.apply || phonefleet.ErrorCode(err) != tt.code {
				t.Fatalf("PlanReport=%v, %v; want %v, %q", apply, err, tt.apply, tt.code)
			}
		})
	}
}

func TestCommandReport_Validate(t *testing.T) {
	for _, tt := range []struct {
		r   phonefleet.CommandReport
		msg string
	}{
		{phonefleet.CommandReport{State: phonefleet.JobStateDone}, ""},
		{phonefleet.CommandReport{State: phonefleet.JobStateFailed, Error: "no space left"}, ""},
		{phonefleet.CommandReport{State: "ok"}, "state must be done or failed"},
		{phonefleet.CommandReport{State: phonefleet.JobStatePending}, "state must be done or failed"},
		{phonefleet.CommandReport{State: phonefleet.JobStateDone, Error: "x"}, "error must be empty when state is done"},
		{phonefleet.CommandReport{State: phonefleet.JobStateFailed}, "error is required when state is failed"},
		{phonefleet.CommandReport{State: phonefleet.JobStateFailed, Error: strings.Repeat("x", 1001)}, "error must be at most 1000 bytes"},
		{phonefleet.CommandReport{State: phonefleet.JobStateFailed, Error: "bad\x00"}, "error must be valid UTF-8 without control characters"},
		{phonefleet.CommandReport{State: phonefleet.JobStateFailed, Error: "rtl\u202e"}, "error must be valid UTF-8 without control characters"},
	} {
		err := tt.r.Validate()
		if tt.msg == "" && err != nil || tt.msg != "" && phonefleet.ErrorMessage(err) != tt.msg {
			t.Fatalf("Validate(%+v)=%v, want %q", tt.r, err, tt.msg)
		}
	}
}

func TestCheckRetry(t *testing.T) {
	for _, tt := range []struct {
		name     string
		typ      phonefleet.CommandType
		state    phonefleet.JobState
		instance phonefleet.InstanceState
		inFlight string
		msg      string
	}{
		{"Reboot", phonefleet.CommandReboot, phonefleet.JobStateFailed, phonefleet.InstanceStateRunning, "", ""},
		{"Release", phonefleet.CommandRelease, phonefleet.JobStateFailed, phonefleet.InstanceStateDeleting, "", ""},
		{"NotFailed", phonefleet.CommandReboot, phonefleet.JobStateDone, phonefleet.InstanceStateRunning, "", "job job_1 is done, not failed or pending"},
		{"Pending", phonefleet.CommandReboot, phonefleet.JobStatePending, phonefleet.InstanceStateRunning, "job_1", ""},
		{"Busy", phonefleet.CommandReset, phonefleet.JobStateFailed, phonefleet.InstanceStateRunning, "job_2", "job job_1 cannot run: instance i1 has job job_2 in flight"},
		{"Unsubscribed", phonefleet.CommandWipeUserData, phonefleet.JobStateFailed, phonefleet.InstanceStateDeleting, "", "job job_1 cannot run: instance i1 is deleting, not running"},
		{"Released", phonefleet.CommandRelease, phonefleet.JobStateFailed, phonefleet.InstanceStateReleased, "", "job job_1 cannot run: instance i1 is released, not deleting"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := phonefleet.CheckRetry(&phonefleet.Command{ID: "job_1", Type: tt.typ, InstanceID: "i1", State: tt.state}, tt.instance, tt.inFlight)
			if tt.msg == "" && err != nil || tt.msg != "" && (phonefleet.ErrorCode(err) != phonefleet.EInvalid || phonefleet.ErrorMessage(err) != tt.msg) {
				t.Fatalf("CheckRetry=%v, want %q", err, tt.msg)
			}
		})
	}
}

func TestValidateUserInstances(t *testing.T) {
	many := make([]phonefleet.UserInstance, 101)
	for i := range many {
		many[i] = phonefleet.UserInstance{UserID: "u", InstanceID: "i" + strings.Repeat("x", i%30) + string(rune('a'+i%26)) + string(rune('a'+i/26))}
	}
	for _, tt := range []struct {
		name  string
		pairs []phonefleet.UserInstance
		msg   string
	}{
		{"OK", pairs("a.b@c-d_e", "i1", "a.b@c-d_e", "i2"), ""},
		{"Max", many[:100], ""},
		{"Empty", nil, "user_instances must contain 1-100 entries"},
		{"TooMany", many, "user_instances must contain at most 100 entries, got 101"},
		{"BadUser", pairs("u", "i1", "bad user", "i2"), "user_instances[1].user_id must be 1-32 characters of [A-Za-z0-9_.@-]"},
		{"EmptyUser", pairs("", "i1"), "user_instances[0].user_id must be 1-32 characters of [A-Za-z0-9_.@-]"},
		{"LongUser", pairs(strings.Repeat("u", 33), "i1"), "user_instances[0].user_id must be 1-32 characters of [A-Za-z0-9_.@-]"},
		{"BadInstance", pairs("u", "i.1"), "user_instances[0].instance_id must be 1-32 characters of [A-Za-z0-9_-]"},
		{"Duplicate", pairs("u", "i1", "v", "i1"), `user_instances names instance "i1" more than once`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := phonefleet.ValidateUserInstances("user_instances", tt.pairs)
			if tt.msg == "" && err != nil || tt.msg != "" && (phonefleet.ErrorCode(err) != phonefleet.EInvalid || phonefleet.ErrorMessage(err) != tt.msg) {
				t.Fatalf("err=%v, want %q", err, tt.msg)
			}
		})
	}
}

func TestPlanUnsubscribe_CancelsCommandInFlight(t *testing.T) {
	ins := fleet()
	for _, id := range []string{"boot", "wipe", "alice"} {
		ins[id].BillingMode = phonefleet.BillingModeMonthly
	}
	plan, err := phonefleet.PlanUnsubscribe(&phonefleet.UnsubscribeRequest{TenantID: "t1", InstanceIDs: []string{"boot", "wipe", "alice"}}, ins, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"job_boot", "job_wipe", ""} {
		if got := plan.Items[i].CancelJobID; got != want {
			t.Fatalf("item %d CancelJobID=%q, want %q", i, got, want)
		}
	}
}
