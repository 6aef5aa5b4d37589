package release

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/phonefleet/phonefleet"
)

// Worker defaults.
const (
	DefaultConcurrency  = 4
	DefaultMaxAttempts  = 20
	DefaultBackoff      = time.Second
	DefaultMaxBackoff   = 5 * time.Minute
	DefaultPollInterval = time.Second
	DefaultLease        = 15 * time.Second
	// DefaultCommandTimeout is how long the data plane has to report the
	// outcome of a command it accepted (202) before the command fails.
	DefaultCommandTimeout = 30 * time.Minute
	// DefaultShutdownTimeout bounds how long Close waits for deliveries.
	DefaultShutdownTimeout = 5 * time.Second
)

const (
	// jitter is the ± fraction applied to every backoff delay.
	jitter = 0.2
	// recordTimeout bounds writing a delivery's outcome to the store.
	recordTimeout = 10 * time.Second
	// recordRetryDelay is the first pause before writing an outcome again.
	recordRetryDelay = 50 * time.Millisecond
	// errorLogInterval is the least time between two logs of the same kind
	// of repeated error.
	errorLogInterval = 10 * time.Second
	// maxLastError is how much of an error message is stored on the job.
	maxLastError = 1000
)

// Worker drains the command outbox: it claims due commands from Store, runs
// each through Driver with at most Concurrency in flight, and records the
// outcome. Every serve process runs one; several workers, in one process or
// several, may share a store because claims are leases.
type Worker struct {
	Store       phonefleet.CommandService
	Driver      Driver
	Concurrency int // deliveries in flight (default 4)
	MaxAttempts int // default 20; then the job is failed
	// Backoff is the first retry delay (default 1s); it doubles per attempt
	// up to MaxBackoff, with ±20% jitter.
	Backoff      time.Duration
	MaxBackoff   time.Duration // default 5 min
	PollInterval time.Duration // default 1s
	// Lease is how long a claim keeps other workers off a job (default 15s,
	// more than the 10 s webhook timeout). A delivery is cancelled at 80% of
	// it so that its outcome is recorded before the lease runs out.
	Lease time.Duration
	// CommandTimeout is how long the data plane has to report a command it
	// accepted (default 30 min); then the command fails.
	CommandTimeout time.Duration
	// ShutdownTimeout is how long Close waits for the deliveries in flight
	// (default 5s); then it abandons them: their leases run out and another
	// claim delivers them again, as after a crash.
	ShutdownTimeout time.Duration
	Owner           string // unique per worker; default hostname-pid-random
	// Logger gets the worker's logs, each with an owner attribute; default
	// slog.Default() with system=release.
	Logger *slog.Logger
	Now    func() time.Time // clock for next attempt times; default time.Now

	rand func() float64 // jitter source; tests pin it

	notify chan struct{} // Notify: claim now
	freed  chan struct{} // a delivery finished: a slot is free
	sem    chan struct{} // one token per delivery in flight

	mu      sync.Mutex
	cancel  context.CancelFunc // stops claiming
	abandon context.CancelFunc // cancels the deliveries in flight
	// deliveries is the parent of every delivery's context; Close cancels
	// it once ShutdownTimeout has passed.
	deliveries context.Context
	wg         sync.WaitGroup
	errLog     logThrottle
}

// NewWorker returns a worker on store and driver with the default settings.
func NewWorker(store phonefleet.CommandService, driver Driver) *Worker {
	return &Worker{
		Store: store, Driver: driver,
		Concurrency: DefaultConcurrency, MaxAttempts: DefaultMaxAttempts,
		Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff,
		PollInterval: DefaultPollInterval, Lease: DefaultLease, CommandTimeout: DefaultCommandTimeout,
		Now:    time.Now,
		notify: make(chan struct{}, 1),
	}
}

// Open fills in defaults for unset fields and starts the loop in the
// background. It fails if the worker lacks a store or a driver or is
// already open.
func (w *Worker) Open() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.Store == nil {
		return errors.New("release worker: store required")
	} else if w.Driver == nil {
		return errors.New("release worker: driver required")
	} else if w.cancel != nil {
		return errors.New("release worker: already open")
	}
	w.setDefaults()

	ctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	w.deliveries, w.abandon = context.WithCancel(context.Background())
	w.wg.Add(1)
	go func() { defer w.wg.Done(); w.loop(ctx) }()
	w.Logger.Info("release worker started", "concurrency", w.Concurrency,
		"max_attempts", w.MaxAttempts, "backoff", w.Backoff, "lease", w.Lease)
	return nil
}

func (w *Worker) setDefaults() {
	if w.Concurrency <= 0 {
		w.Concurrency = DefaultConcurrency
	}
	if w.MaxAttempts <= 0 {
		w.MaxAttempts = DefaultMaxAttempts
	}
	if w.Backoff <= 0 {
		w.Backoff = DefaultBackoff
	}
	if w.MaxBackoff <= 0 {
		w.MaxBackoff = DefaultMaxBackoff
	}
	if w.PollInterval <= 0 {
		w.PollInterval = DefaultPollInterval
	}
	if w.Lease <= 0 {
		w.Lease = DefaultLease
	}
	if w.CommandTimeout <= 0 {
		w.CommandTimeout = DefaultCommandTimeout
	}
	if w.ShutdownTimeout <= 0 {
		w.ShutdownTimeout = DefaultShutdownTimeout
	}
	if w.Owner == "" {
		host, _ := os.Hostname()
		w.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), phonefleet.NewID(6))
	}
	if w.Logger == nil {
		w.Logger = slog.Default().With("system", "release")
	}
	w.Logger = w.Logger.With("owner", w.Owner)
	if w.Now == nil {
		w.Now = time.Now
	}
	if w.rand == nil {
		w.rand = rand.Float64
	}
	if w.notify == nil {
		w.notify = make(chan struct{}, 1)
	}
	w.freed = make(chan struct{}, 1)
	w.sem = make(chan struct{}, w.Concurrency)
	w.errLog.interval = errorLogInterval
}

// Stop stops claiming at once and returns without waiting: the loop
// starts no claim once stopped. Close then waits for the deliveries in
// flight. A stopping server calls Stop first so that no new delivery starts
// while its HTTP requests drain.
func (w *Worker) Stop() {
	w.mu.Lock()
	cancel := w.cancel
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// abandonGrace is how long Close still waits after abandoning deliveries:
// a delivery or a claim stuck on a silent database must not hold the
// process.
const abandonGrace = time.Second

// Close stops claiming and waits up to ShutdownTimeout for the deliveries
// in flight to finish and be recorded; then it abandons the rest (their
// leases run out and another claim delivers them again) and returns within
// a second more. Jobs not yet claimed stay pending in the store; nothing is
// lost. Close is safe to call twice.
func (w *Worker) Close() error {
	w.mu.Lock()
	cancel, abandon := w.cancel, w.abandon
	w.mu.Unlock()
	if cancel == nil {
		return nil
	}
	w.Stop()
	w.Logger.Info("release worker stopping", "in_flight", len(w.sem))
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	t := time.NewTimer(w.ShutdownTimeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		w.Logger.Warn("abandoning deliveries in flight; their leases will run out and they will be delivered again",
			"in_flight", len(w.sem), "shutdown_timeout", w.ShutdownTimeout)
		abandon()
		select {
		case <-done:
		case <-time.After(abandonGrace):
			w.Logger.Warn("release worker still busy after abandoning; exiting anyway")
		}
	}
	abandon()
	return nil
}

// Notify wakes the loop to claim now, for example right after an
// unsubscribe wrote new jobs. It never blocks.
func (w *Worker) Notify() {
	select {
	case w.notify <- struct{}{}:
	default:
	}
}

// loop claims whenever the ticker fires or Notify is called, and after a
// delivery finishes while the last claim filled every free slot (more jobs
// may be due), until ctx is cancelled.
func (w *Worker) loop(ctx context.Context) {
	ticker := time.NewTicker(w.PollInterval)
	defer ticker.Stop()

	claim, backlog := true, false
	for {
		if claim {
			backlog = w.claim(ctx)
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			claim = true
		case <-w.notify:
			claim = true
		case <-w.freed:
			claim = backlog
		}
	}
}

// claim leases up to the free slots and starts a delivery for each job. It
// reports whether it filled every free slot.
func (w *Worker) claim(ctx context.Context) (full bool) {
	free := cap(w.sem) - len(w.sem) // only this goroutine adds tokens
	if free == 0 {
		return true
	} else if ctx.Err() != nil {
		return false // stopping: select may have picked another ready case
	}
	jobs, err := w.Store.ClaimCommands(ctx, w.Owner, free, w.Lease)
	if err != nil {
		if ctx.Err() == nil {
			w.logError("claim", "claim commands", err)
		}
		return false
	}
	for _, job := range jobs {
		w.sem <- struct{}{}
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			w.deliver(ctx, job)
			<-w.sem
			select {
			case w.freed <- struct{}{}:
			default:
			}
		}()
	}
	return len(jobs) == free
}

// deliver runs one command through the driver and records the outcome.
// Stopping does not cancel them: a stopping worker finishes what it started
// and records it, within the lease and Close's ShutdownTimeout.
func (w *Worker) deliver(ctx context.Context, job *phonefleet.Command) {
	dctx, cancel := context.WithTimeout(w.deliveries, w.Lease*4/5)
	accepted, err := w.call(dctx, job)
	cancel()
	if w.deliveries.Err() != nil {
		// Abandoned by Close: the lease runs out and the job is
		// delivered again.
		return
	}

	rctx, cancel := context.WithTimeout(w.deliveries, recordTimeout)
	defer cancel()
	log := w.Logger.With("job_id", job.ID, "type", job.Type, "instance_id", job.InstanceID, "event_id", job.EventID, "delivery_id", job.DeliveryID())

	if err == nil && accepted {
		deliveriesTotal.WithLabelValues(OutcomeAccepted).Inc()
		deadline := w.Now().Add(w.CommandTimeout)
		if err := w.record(rctx, func(ctx context.Context) error {
			return w.Store.AcceptCommand(ctx, job.ID, w.Owner, deadline)
		}); err != nil {
			w.logError("accept", "record accepted command", err, "job_id", job.ID)
			return
		}
		log.Info("command accepted; waiting for the data plane's report", "attempt", job.Attempts+1, "deadline", deadline.UTC())
		return
	}
	if err == nil {
		deliveriesTotal.WithLabelValues(OutcomeOK).Inc()
		if err := w.record(rctx, func(ctx context.Context) error {
			return w.Store.CompleteCommand(ctx, job.ID, w.Owner)
		}); err != nil {
			// The lease runs out and the command is delivered again: at least once.
			w.logError("complete", "complete command", err, "job_id", job.ID)
			return
		}
		log.Info("command done", "attempt", job.Attempts+1)
		return
	}

	attempt := job.Attempts + 1
	final := attempt >= w.MaxAttempts
	next := w.Now().Add(Backoff(attempt, w.Backoff, w.MaxBackoff, w.rand))
	msg := cleanText(err.Error(), maxLastError)
	if err := w.record(rctx, func(ctx context.Context) error {
		return w.Store.FailCommand(ctx, job.ID, w.Owner, msg, next, final)
	}); err != nil {
		w.logError("fail", "record failed delivery attempt", err, "job_id", job.ID)
		return
	}
	if final {
		deliveriesTotal.WithLabelValues(OutcomeGaveUp).Inc()
		log.Error("delivery gave up; job failed, waiting for an operator", "attempt", attempt, "error", msg)
		return
	}
	deliveriesTotal.WithLabelValues(OutcomeError).Inc()
	w.logError("deliver", "delivery attempt failed", err, "job_id", job.ID, "type", job.Type,
		"instance_id", job.InstanceID, "attempt", attempt, "next_attempt_at", next.UTC())
}

// record runs a store write until it succeeds, fails with an application
// error (such as ENotFound), or ctx ends. A busy database must not lose the
// outcome: a lost completion means a second delivery once the lease runs out.
func (w *Worker) record(ctx context.Context, fn func(context.Context) error) error {
	delay := recordRetryDelay
	for {
		err := fn(ctx)
		if err == nil || phonefleet.ErrorCode(err) != phonefleet.EInternal {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return err
		case <-t.C:
		}
		delay = min(2*delay, time.Second)
	}
}

// cleanText returns s as valid UTF-8 without control characters (a
// PostgreSQL text column rejects NUL and invalid bytes), cut to at most max
// bytes on a character boundary.
func cleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// call runs the driver, turning a panic into an error so that one bad
// delivery cannot take the process down.
func (w *Worker) call(ctx context.Context, job *phonefleet.Command) (accepted bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			accepted, err = false, fmt.Errorf("driver panic: %v", r)
		}
	}()
	return w.Driver.Deliver(ctx, job)
}

// logError logs err unless an error of the same kind was logged less than
// errorLogInterval ago; the next log says how many were suppressed.
func (w *Worker) logError(kind, msg string, err error, args ...any) {
	ok, suppressed := w.errLog.allow(kind, w.Now())
	if !ok {
		return
	}
	args = append(args, "error", err)
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	w.Logger.Warn(msg, args...)
}

// logThrottle keeps repeated error logs down: it lets one log line per kind
// through per interval and counts the ones it held back. It limits logging,
// not requests.
type logThrottle struct {
	interval time.Duration

	mu    sync.Mutex
	kinds map[string]*throttleState
}

type throttleState struct {
	last       time.Time
	suppressed int
}

// allow reports whether an event of kind at now may be logged and, if so,
// how many were suppressed since the last one.
func (l *logThrottle) allow(kind string, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.kinds == nil {
		l.kinds = make(map[string]*throttleState)
	}
	s := l.kinds[kind]
	if s == nil {
		l.kinds[kind] = &throttleState{last: now}
		return true, 0
	}
	if now.Sub(s.last) < l.interval {
		s.suppressed++
		return false, 0
	}
	suppressed, s.suppressed, s.last = s.suppressed, 0, now
	return true, suppressed
}

// Backoff returns the delay after failed attempt n (1-based): first·2^(n-1),
// capped at max, times a random factor in [0.8, 1.2) from rnd (a number in
// [0, 1); nil means math/rand), and never above max.
func Backoff(attempt int, first, max time.Duration, rnd func() float64) time.Duration {
	if first <= 0 {
		return 0
	}
	if max < first {
		max = first
	}
	d := first
	for i := 1; i < attempt && d < max; i++ {
		if d > max/2 {
			d = max // doubling would pass the cap (or overflow)
			break
		}
		d *= 2
	}
	if rnd == nil {
		rnd = rand.Float64
	}
	d = time.Duration(float64(d) * (1 - jitter + 2*jitter*rnd()))
	if d > max {
		d = max
	}
	return d
}
