package phonefleet_test

import (
	"strings"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// consistentSnapshot is a store with a running, a deleting and a released
// instance, each as the stores leave it.
func consistentSnapshot() *phonefleet.Snapshot {
	inst := func(id string, s phonefleet.InstanceState) *phonefleet.Instance {
		return &phonefleet.Instance{ID: id, TenantID: "tn1", OrderID: "o1", State: s}
	}
	return &phonefleet.Snapshot{
		Tenants:   []*phonefleet.Tenant{{ID: "tn1", HeldInstances: 2}},
		Orders:    []*phonefleet.Order{{ID: "o1", TenantID: "tn1"}},
		Instances: []*phonefleet.Instance{inst("i1", phonefleet.InstanceStateRunning), inst("i2", phonefleet.InstanceStateDeleting), inst("i3", phonefleet.InstanceStateReleased)},
		Refunds:   []*phonefleet.Refund{{InstanceID: "i2"}, {InstanceID: "i3"}},
		Commands: []*phonefleet.Command{
			{ID: "j1", Type: phonefleet.CommandReboot, InstanceID: "i1", State: phonefleet.JobStateDone},
			{ID: "j2", Type: phonefleet.CommandRelease, InstanceID: "i2", State: phonefleet.JobStateFailed},
			{ID: "j3", Type: phonefleet.CommandRelease, InstanceID: "i3", State: phonefleet.JobStateDone},
		},
	}
}

func TestConsistencyCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(s *phonefleet.Snapshot)
		want string // "" for consistent
	}{
		{"OK", func(s *phonefleet.Snapshot) {}, ""},
		{"OKReleaseRemovedByRetention", func(s *phonefleet.Snapshot) { s.Commands = s.Commands[:2] }, ""},
		{"ErrSecondRefund", func(s *phonefleet.Snapshot) { s.Refunds = append(s.Refunds, &phonefleet.Refund{InstanceID: "i2"}) }, "i2 is deleting with 2 refunds"},
		{"ErrRefundOfRunning", func(s *phonefleet.Snapshot) { s.Refunds = append(s.Refunds, &phonefleet.Refund{InstanceID: "i1"}) }, "i1 is running with 1 refunds"},
		{"ErrNoRefund", func(s *phonefleet.Snapshot) { s.Refunds = s.Refunds[1:] }, "i2 is deleting with 0 refunds"},
		{"ErrDeletingWithoutRelease", func(s *phonefleet.Snapshot) { s.Commands[1].State = phonefleet.JobStateDone }, "i2 is deleting without a release job"},
		{"ErrTwoInFlight", func(s *phonefleet.Snapshot) {
			s.Commands[0].State = phonefleet.JobStatePending
			s.Commands = append(s.Commands, &phonefleet.Command{ID: "j4", Type: phonefleet.CommandReset, InstanceID: "i1", State: phonefleet.JobStateAccepted})
		}, "i1 has 2 jobs in flight"},
		{"ErrReleasedInFlight", func(s *phonefleet.Snapshot) {
			s.Commands = append(s.Commands, &phonefleet.Command{ID: "j4", Type: phonefleet.CommandReboot, InstanceID: "i3", State: phonefleet.JobStatePending})
		}, "i3 is released with a job in flight"},
		{"ErrReleasedReleasePending", func(s *phonefleet.Snapshot) { s.Commands[2].State = phonefleet.JobStateFailed }, "i3 is released but its release job is failed"},
		{"ErrRunningRelease", func(s *phonefleet.Snapshot) { s.Commands[0].Type = phonefleet.CommandRelease }, "i1 is running with a release job"},
		{"ErrHeld", func(s *phonefleet.Snapshot) { s.Tenants[0].HeldInstances = 3 }, "tenant tn1 counts 3 held instances, but holds 2"},
		{"ErrOrphanInstance", func(s *phonefleet.Snapshot) { s.Instances[0].OrderID = "o9" }, "order o9, which does not exist"},
		{"ErrOrphanJob", func(s *phonefleet.Snapshot) { s.Commands[0].InstanceID = "i9" }, "instance i9, which does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := consistentSnapshot()
			tc.mut(s)
			c := phonefleet.NewConsistencyCheck()
			// In batches of one table, parents first, as stores stream.
			for _, b := range []*phonefleet.Snapshot{{Tenants: s.Tenants}, {Orders: s.Orders}, {Instances: s.Instances}, {Refunds: s.Refunds}, {Commands: s.Commands}} {
				if err := c.Add(b); err != nil {
					t.Fatal(err)
				}
			}
			got := strings.Join(c.Problems(), "\n")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Fatalf("Problems=%q, want %q", got, tc.want)
			}
			// Asking again gives the same answer.
			if again := strings.Join(c.Problems(), "\n"); again != got {
				t.Fatalf("second Problems=%q, want %q", again, got)
			}
		})
	}
}

func TestPlanMigrationStatus(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := phonefleet.PlanMigrationStatus([]string{"m/0001", "m/0002"}, map[string]time.Time{"m/0001": at, "m/0009": at})
	want := []struct {
		name           string
		known, applied bool
	}{{"m/0001", true, true}, {"m/0002", true, false}, {"m/0009", false, true}}
	if len(st) != len(want) {
		t.Fatalf("got %+v, want %+v", st, want)
	}
	for i, w := range want {
		if st[i].Name != w.name || st[i].Known != w.known || st[i].Applied != w.applied || (st[i].AppliedAt != nil) != w.applied {
			t.Fatalf("[%d]=%+v, want %+v", i, st[i], w)
		}
	}
	if u := phonefleet.UnknownMigrations(st); len(u) != 1 || u[0] != "m/0009" {
		t.Fatalf("UnknownMigrations=%v, want [m/0009]", u)
	}
}
