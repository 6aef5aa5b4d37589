package lifecycle_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/lifecycle"
	"github.com/phonefleet/phonefleet/mock"
	dto "github.com/prometheus/client_model/go"
)

// counter reads the transitions counter of one label.
func counter(tb testing.TB, to string) float64 {
	tb.Helper()
	var m dto.Metric
	if err := lifecycle.TransitionsMetric.WithLabelValues(to).Write(&m); err != nil {
		tb.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestSweeper_Sweep(t *testing.T) {
	t.Run("UntilNothingIsDue", func(t *testing.T) {
		batches := [][]phonefleet.LifecycleTransition{
			{{InstanceID: "a", To: phonefleet.InstanceStateExpired}, {InstanceID: "b", To: phonefleet.InstanceStateFrozen, Command: phonefleet.CommandFreeze}},
			{{InstanceID: "a", To: phonefleet.InstanceStateFrozen, Command: phonefleet.CommandFreeze}},
			{},
		}
		var calls atomic.Int32
		store := &mock.Store{SweepLifecycleFn: func(ctx context.Context, def phonefleet.LifecyclePeriods, limit int) ([]phonefleet.LifecycleTransition, error) {
			if limit != 2 || def.Grace != phonefleet.DefaultGracePeriod {
				t.Errorf("SweepLifecycle(%+v, %d), want the sweeper's periods and batch size", def, limit)
			}
			return batches[calls.Add(1)-1], nil
		}}
		s := lifecycle.NewSweeper(store, phonefleet.DefaultLifecyclePeriods())
		s.BatchSize = 2
		var notified int
		s.OnCommands = func() { notified++ }
		frozenBefore := counter(t, "frozen")
		n, err := s.Sweep(t.Context())
		if err != nil || n != 3 || calls.Load() != 3 {
			t.Fatalf("Sweep=%d, %v after %d calls; want 3 transitions in 3 calls", n, err, calls.Load())
		}
		if notified != 2 {
			t.Fatalf("OnCommands called %d times, want 2 (once per batch with commands)", notified)
		}
		if got := counter(t, "frozen") - frozenBefore; got != 2 {
			t.Fatalf("transitions_total{to=frozen} grew by %v, want 2", got)
		}
	})
	t.Run("Error", func(t *testing.T) {
		boom := errors.New("boom")
		store := &mock.Store{SweepLifecycleFn: func(context.Context, phonefleet.LifecyclePeriods, int) ([]phonefleet.LifecycleTransition, error) {
			return nil, boom
		}}
		if _, err := lifecycle.NewSweeper(store, phonefleet.DefaultLifecyclePeriods()).Sweep(t.Context()); !errors.Is(err, boom) {
			t.Fatalf("Sweep: %v, want boom", err)
		}
	})
}

// TestSweeper_Wake counts sweeps, not time: a long poll interval, and each
// Wake brings one more.
func TestSweeper_Wake(t *testing.T) {
	swept := make(chan struct{})
	store := &mock.Store{SweepLifecycleFn: func(ctx context.Context, _ phonefleet.LifecyclePeriods, _ int) ([]phonefleet.LifecycleTransition, error) {
		select {
		case swept <- struct{}{}:
		case <-ctx.Done():
		}
		return nil, nil
	}}
	s := lifecycle.NewSweeper(store, phonefleet.DefaultLifecyclePeriods())
	s.PollInterval = 1 << 62 // never by the ticker
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	<-swept // the sweep at start
	for range 3 {
		s.Wake()
		<-swept
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Open(); err == nil {
		s.Close()
	}
}

func TestSweeper_OpenErrors(t *testing.T) {
	if err := (&lifecycle.Sweeper{}).Open(); err == nil {
		t.Fatal("Open without a store succeeded")
	}
	bad := lifecycle.NewSweeper(&mock.Store{}, phonefleet.LifecyclePeriods{Grace: -1})
	if err := bad.Open(); phonefleet.ErrorCode(err) != phonefleet.EInvalid {
		t.Fatalf("Open with a negative grace period: %v, want 1000", err)
	}
}
