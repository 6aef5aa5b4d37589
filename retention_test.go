package phonefleet_test

import (
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

func TestCommandExpired(t *testing.T) {
	before := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	old, recent := before.Add(-time.Second), before
	for _, tc := range []struct {
		name  string
		typ   phonefleet.CommandType
		state phonefleet.JobState
		done  *time.Time
		inst  phonefleet.InstanceState
		want  bool
	}{
		{"DoneOld", phonefleet.CommandReboot, phonefleet.JobStateDone, &old, phonefleet.InstanceStateRunning, true},
		{"DoneAtCutoff", phonefleet.CommandReboot, phonefleet.JobStateDone, &recent, phonefleet.InstanceStateRunning, false},
		{"ReleaseDoneReleased", phonefleet.CommandRelease, phonefleet.JobStateDone, &old, phonefleet.InstanceStateReleased, true},
		{"CanceledOld", phonefleet.CommandReset, phonefleet.JobStateCanceled, &old, phonefleet.InstanceStateDeleting, true},
		{"PendingNoDoneAt", phonefleet.CommandReboot, phonefleet.JobStatePending, nil, phonefleet.InstanceStateRunning, false},
		{"PendingWithDoneAt", phonefleet.CommandReboot, phonefleet.JobStatePending, &old, phonefleet.InstanceStateRunning, false},
		{"AcceptedOld", phonefleet.CommandRelease, phonefleet.JobStateAccepted, &old, phonefleet.InstanceStateDeleting, false},
		{"FailedReleaseDeleting", phonefleet.CommandRelease, phonefleet.JobStateFailed, &old, phonefleet.InstanceStateDeleting, false},
		{"FailedReleaseReleased", phonefleet.CommandRelease, phonefleet.JobStateFailed, &old, phonefleet.InstanceStateReleased, true},
		{"FailedRebootRunning", phonefleet.CommandReboot, phonefleet.JobStateFailed, &old, phonefleet.InstanceStateRunning, false},
		{"FailedRebootDeleting", phonefleet.CommandReboot, phonefleet.JobStateFailed, &old, phonefleet.InstanceStateDeleting, true},
		{"FailedRebootReleased", phonefleet.CommandReboot, phonefleet.JobStateFailed, &old, phonefleet.InstanceStateReleased, true},
		{"FailedRecent", phonefleet.CommandReboot, phonefleet.JobStateFailed, &recent, phonefleet.InstanceStateReleased, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &phonefleet.Command{ID: "j", InstanceID: "i", Type: tc.typ, State: tc.state, DoneAt: tc.done}
			if got := phonefleet.CommandExpired(c, tc.inst, before); got != tc.want {
				t.Fatalf("CommandExpired=%v, want %v", got, tc.want)
			}
		})
	}
}

func TestAuditExpired(t *testing.T) {
	before := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	ev := func(d time.Duration) *phonefleet.AuditEvent { return &phonefleet.AuditEvent{At: before.Add(d)} }
	for _, tc := range []struct {
		name   string
		events []*phonefleet.AuditEvent
		want   int
	}{
		{"None", nil, 0},
		{"AllOld", []*phonefleet.AuditEvent{ev(-3), ev(-2), ev(-1)}, 3},
		{"StopsAtFirstKept", []*phonefleet.AuditEvent{ev(-3), ev(0), ev(-1)}, 1},
		{"FirstKept", []*phonefleet.AuditEvent{ev(1), ev(-1)}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := phonefleet.AuditExpired(tc.events, before); got != tc.want {
				t.Fatalf("AuditExpired=%d, want %d", got, tc.want)
			}
		})
	}
}
