// Package lifecycle runs the sweep that moves yearly/monthly instances
// through their lifecycle (running → expired → frozen → released) as each
// tenant's business time passes their due times. Every serve process runs
// one; the store makes each transition happen once across them.
package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Sweeper defaults.
const (
	// DefaultPollInterval is how often a sweep runs without a wake-up; it
	// bounds how late a step is after its due time, and after a test clock
	// moved on another node.
	DefaultPollInterval = time.Second
	// DefaultBatchSize is how many transitions one store call applies at
	// most: a bounded transaction, so requests waiting for the same rows or
	// the same SQLite writer are not held long.
	DefaultBatchSize = 256
	// maxBackoff bounds the wait after failed sweeps.
	maxBackoff = time.Minute
	// errorLogInterval is the least time between two logs of failed sweeps.
	errorLogInterval = 10 * time.Second
)

// Metrics of the sweep, registered with the default registry.
var (
	transitions = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_lifecycle_transitions_total",
		Help: "Lifecycle transitions applied by this process's sweep, by the state reached (expired, frozen, released).",
	}, []string{"to"})
	sweepErrors = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_lifecycle_sweep_errors_total",
		Help: "Lifecycle sweeps that failed (they are retried with backoff).",
	})
)

func init() {
	// Every label exists from the start, so a rate over it is defined.
	for _, to := range []string{"expired", "frozen", "released"} {
		transitions.WithLabelValues(to)
	}
}

// Sweeper runs the lifecycle sweep of one process: it calls
// Store.SweepLifecycle in batches until nothing is due, then waits for the
// poll interval or a Wake.
type Sweeper struct {
	Store        phonefleet.LifecycleService
	Periods      phonefleet.LifecyclePeriods // the deployment's; tenants may have their own
	PollInterval time.Duration               // default 1s
	BatchSize    int                         // default 256
	// OnCommands, if set, is called after a batch that wrote data-plane
	// commands (freeze, release), so the command worker delivers them now.
	OnCommands func()
	// Logger gets the sweep's logs; default slog.Default() with
	// system=lifecycle.
	Logger *slog.Logger

	wake chan struct{}

	mu      sync.Mutex
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	lastLog time.Time
}

// NewSweeper returns a sweeper on store with the deployment's periods and
// the default settings.
func NewSweeper(store phonefleet.LifecycleService, periods phonefleet.LifecyclePeriods) *Sweeper {
	return &Sweeper{Store: store, Periods: periods, PollInterval: DefaultPollInterval, BatchSize: DefaultBatchSize}
}

// Open starts the loop in the background. It fails without a store, with
// invalid periods, or when already open.
func (s *Sweeper) Open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Store == nil {
		return errors.New("lifecycle sweeper: store required")
	} else if err := s.Periods.Validate(); err != nil {
		return err
	} else if s.cancel != nil {
		return errors.New("lifecycle sweeper: already open")
	}
	if s.PollInterval <= 0 {
		s.PollInterval = DefaultPollInterval
	}
	if s.BatchSize <= 0 {
		s.BatchSize = DefaultBatchSize
	}
	if s.Logger == nil {
		s.Logger = slog.Default().With("system", "lifecycle")
	}
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.loop(ctx) }()
	s.Logger.Info("lifecycle sweeper started", "grace_period", s.Periods.Grace.String(),
		"retention_period", s.Periods.Retention.String(), "poll_interval", s.PollInterval.String())
	return nil
}

// Close stops the loop and waits for the sweep in progress (a store call
// is one transaction: it commits or rolls back whole).
func (s *Sweeper) Close() error {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	return nil
}

// Wake asks for a sweep now, as after a test clock moved. It never blocks.
func (s *Sweeper) Wake() {
	s.mu.Lock()
	if s.wake == nil {
		s.wake = make(chan struct{}, 1)
	}
	w := s.wake
	s.mu.Unlock()
	select {
	case w <- struct{}{}:
	default: // a sweep is already asked for
	}
}

// loop sweeps at start, on every tick and wake-up, and backs off after
// failures.
func (s *Sweeper) loop(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.wake:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		next := s.PollInterval
		if _, err := s.Sweep(ctx); err != nil && ctx.Err() == nil {
			failures++
			next = min(s.PollInterval<<min(failures, 16), maxBackoff)
			s.logError(err, next)
		} else {
			failures = 0
		}
		timer.Reset(next)
	}
}

// Sweep applies due transitions in batches until one applies nothing, and
// returns how many it applied.
func (s *Sweeper) Sweep(ctx context.Context) (int, error) {
	total := 0
	for ctx.Err() == nil {
		done, err := s.Store.SweepLifecycle(ctx, s.Periods, s.BatchSize)
		commands := false
		for _, tr := range done {
			transitions.WithLabelValues(tr.Label()).Inc()
			commands = commands || tr.Command != ""
		}
		total += len(done)
		if commands && s.OnCommands != nil {
			s.OnCommands()
		}
		if err != nil {
			sweepErrors.Inc()
			return total, err
		}
		if len(done) == 0 {
			break
		}
	}
	return total, nil
}

// logError logs a failed sweep at most once per errorLogInterval.
func (s *Sweeper) logError(err error, retry time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := time.Now(); now.Sub(s.lastLog) >= errorLogInterval {
		s.lastLog = now
		s.Logger.Error("lifecycle sweep failed", "error", err, "retry_in", retry.String())
	}
}
