package release

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// claimTimer records, per job, the real time just before the claim that
// leased it: the lease cannot have started earlier.
type claimTimer struct {
	*fakeStore
	mu      sync.Mutex
	claimed map[string]time.Time
}

func (s *claimTimer) ClaimCommands(ctx context.Context, owner string, limit int, lease time.Duration) ([]*phonefleet.Command, error) {
	start := time.Now()
	jobs, err := s.fakeStore.ClaimCommands(ctx, owner, limit, lease)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, j := range jobs {
		s.claimed[j.InstanceID] = start
	}
	return jobs, err
}

// TestWorker_DeliveryDeadlineInsideLease: a delivery must end, and leave
// time to record its outcome, before its lease runs out and another worker
// may claim the job again; the worker gives it 4/5 of the lease.
func TestWorker_DeliveryDeadlineInsideLease(t *testing.T) {
	clock := newFakeClock()
	store := &claimTimer{fakeStore: newFakeStore(clock), claimed: map[string]time.Time{}}
	store.add("i1", clock.Now())
	type seen struct {
		deadline  time.Time
		ok        bool
		remaining time.Duration
	}
	delivered := make(chan seen, 1)
	w := newTestWorker(store, driverFunc(func(ctx context.Context, job *phonefleet.Command) error {
		d, ok := ctx.Deadline()
		delivered <- seen{d, ok, time.Until(d)}
		return nil
	}), clock)
	const lease = 10 * time.Second
	w.Lease = lease
	mustOpen(t, w)

	got := recv(t, delivered)
	store.mu.Lock()
	claimed := store.claimed["i1"]
	store.mu.Unlock()
	if !got.ok {
		t.Fatal("the delivery's context has no deadline")
	}
	// The deadline is set when the delivery starts, a moment after the
	// claim: allow a tenth of the lease for that moment, never the last
	// fifth, which is for recording the outcome.
	if used := got.deadline.Sub(claimed); used > lease*4/5+lease/10 {
		t.Fatalf("delivery deadline %s after the claim, want at most 4/5 of the %s lease", used, lease)
	}
	if got.remaining < lease/2 {
		t.Fatalf("delivery started with %s left, want most of 4/5 of the %s lease", got.remaining, lease)
	}
	store.waitFor(t, "completion", func() bool { return store.completed["i1"] == 1 })
}
