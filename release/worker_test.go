package release

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/internal/testingutil"
	"github.com/prometheus/client_golang/prometheus"
)

func TestWorker_RetriesUntilDelivered(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock)
	store.add("i1", clock.Now())
	drv := &scriptDriver{errs: []error{errors.New("boom 1"), errors.New("boom 2")}}
	w := newTestWorker(store, drv, clock)
	okBefore, errBefore := deliveriesCount(t, OutcomeOK), deliveriesCount(t, OutcomeError)
	mustOpen(t, w)

	// Attempt 1 fails: the next attempt is first·2^0 = 1s later.
	store.waitFor(t, "first failure", func() bool { return len(store.fails) == 1 })
	if f := store.fails[0]; !f.next.Equal(clock.Now().Add(time.Second)) || f.final || f.lastError != "boom 1" {
		t.Fatalf("fail #1 = %+v, want next=now+1s, not final, lastError boom 1", f)
	}

	// Not due yet: the worker keeps claiming but delivers nothing.
	store.waitClaims(t, 3)
	clock.Add(999 * time.Millisecond)
	store.waitClaims(t, 3)
	if n := drv.count(); n != 1 {
		t.Fatalf("deliveries before due=%d, want 1", n)
	}

	// Attempt 2 fails: 2s.
	clock.Add(time.Millisecond)
	store.waitFor(t, "second failure", func() bool { return len(store.fails) == 2 })
	if f := store.fails[1]; !f.next.Equal(clock.Now().Add(2*time.Second)) || f.final {
		t.Fatalf("fail #2 = %+v, want next=now+2s, not final", f)
	}
	clock.Add(2 * time.Second)
	store.waitFor(t, "completion", func() bool { return store.completed["i1"] == 1 })

	job := store.job("i1")
	if job.State != phonefleet.JobStateDone || job.Attempts != 2 || job.LastError != "boom 2" {
		t.Fatalf("job=%+v, want done after 2 failed attempts", job)
	}
	for i, j := range drv.jobs() {
		if j.EventID != "evt_i1" {
			t.Fatalf("delivery %d event ID=%q, want evt_i1", i, j.EventID)
		}
		if j.Attempts != i {
			t.Fatalf("delivery %d saw attempts=%d, want %d", i, j.Attempts, i)
		}
	}
	if n := drv.count(); n != 3 {
		t.Fatalf("deliveries=%d, want 3", n)
	}
	if got := deliveriesCount(t, OutcomeOK) - okBefore; got != 1 {
		t.Fatalf("ok deliveries counted=%v, want 1", got)
	}
	if got := deliveriesCount(t, OutcomeError) - errBefore; got != 2 {
		t.Fatalf("error deliveries counted=%v, want 2", got)
	}
}

func TestWorker_GivesUpAfterMaxAttempts(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock)
	store.add("i1", clock.Now())
	drv := &scriptDriver{always: errors.New("down")}
	w := newTestWorker(store, drv, clock)
	w.MaxAttempts = 3
	gaveUpBefore := deliveriesCount(t, OutcomeGaveUp)
	mustOpen(t, w)

	for n := 1; n <= 3; n++ {
		store.waitFor(t, "failure", func() bool { return len(store.fails) == n })
		if got, want := store.fails[n-1].final, n == 3; got != want {
			t.Fatalf("fail #%d final=%v, want %v", n, got, want)
		}
		clock.Add(w.MaxBackoff)
	}
	store.waitClaims(t, 3)
	if n := drv.count(); n != 3 {
		t.Fatalf("deliveries=%d, want 3 (a failed job is not claimed again)", n)
	}
	if job := store.job("i1"); job.State != phonefleet.JobStateFailed || job.Attempts != 3 || job.LastError != "down" {
		t.Fatalf("job=%+v, want failed after 3 attempts", job)
	}
	if got := deliveriesCount(t, OutcomeGaveUp) - gaveUpBefore; got != 1 {
		t.Fatalf("gave_up counted=%v, want 1", got)
	}

	// An operator retries it: it is delivered again from attempt 0.
	drv.setAlways(nil)
	if err := store.RetryCommand(context.Background(), "i1"); err != nil {
		t.Fatal(err)
	}
	w.Notify()
	store.waitFor(t, "completion after retry", func() bool { return store.completed["i1"] == 1 })
	if jobs := drv.jobs(); jobs[len(jobs)-1].Attempts != 0 {
		t.Fatalf("retried delivery saw attempts=%d, want 0", jobs[len(jobs)-1].Attempts)
	}
}

func TestWorker_CloseWaitsForInFlight(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock)
	store.add("i1", clock.Now())
	store.add("i2", clock.Now())
	drv := &gateDriver{gate: make(chan struct{}), started: make(chan string, 2)}
	w := newTestWorker(store, drv, clock)
	w.Concurrency = 1
	logs := newLogCapture()
	w.Logger = slog.New(logs)
	mustOpen(t, w)

	if id := recv(t, drv.started); id != "i1" {
		t.Fatalf("first delivery=%s, want i1", id)
	}
	closed := make(chan struct{})
	go func() { w.Close(); close(closed) }()
	logs.waitFor(t, "release worker stopping")
	select {
	case <-closed:
		t.Fatal("Close returned while a delivery was in flight")
	default:
	}
	close(drv.gate)
	recv(t, closed)

	// Checked right after Close returned, without waiting: the delivery
	// finished with a live context and its outcome is in the store.
	if drv.ctxErr != nil {
		t.Fatalf("delivery context ended with %v, want it to outlive Close", drv.ctxErr)
	}
	if store.completed["i1"] != 1 {
		t.Fatal("in-flight delivery not recorded when Close returned")
	}
	if job := store.job("i2"); job.State != phonefleet.JobStatePending || job.Attempts != 0 || store.leased("i2") {
		t.Fatalf("unclaimed job=%+v leased=%v, want pending, untouched", job, store.leased("i2"))
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestWorker_ConcurrencyBound(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock)
	for _, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		store.add(id, clock.Now())
	}
	drv := &gateDriver{gate: make(chan struct{}), started: make(chan string, 10)}
	w := newTestWorker(store, drv, clock)
	w.Concurrency = 3
	mustOpen(t, w)

	for range 3 {
		recv(t, drv.started)
	}
	close(drv.gate)
	var limits []int
	completed := map[string]int{}
	store.waitFor(t, "all delivered", func() bool {
		limits, completed = slices.Clone(store.claimLimits), maps.Clone(store.completed)
		return len(store.completed) == 10
	})
	drv.mu.Lock()
	maxInFlight := drv.maxInFlight
	drv.mu.Unlock()
	if maxInFlight > 3 {
		t.Fatalf("max deliveries in flight=%d, want <= 3", maxInFlight)
	}
	for _, limit := range limits {
		if limit < 1 || limit > 3 {
			t.Fatalf("claim limits %v, want each within 1-3", limits)
		}
	}
	for id, n := range completed {
		if n != 1 {
			t.Fatalf("job %s completed %d times, want 1", id, n)
		}
	}
}

func TestWorker_Notify(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock)
	w := newTestWorker(store, NoopDriver{}, clock)
	w.PollInterval = time.Hour // only Notify can wake it
	mustOpen(t, w)

	// The claim at start found nothing. It may have run before this line,
	// so wait for a first claim, not for one more.
	store.waitFor(t, "the claim at start", func() bool { return store.claims >= 1 })
	store.add("i1", clock.Now())
	w.Notify()
	w.Notify() // never blocks
	store.waitFor(t, "completion", func() bool { return store.completed["i1"] == 1 })
}

func TestWorker_StoreErrors(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock)
	store.add("i1", clock.Now())
	store.claimErrs = 5
	logs := newLogCapture()
	w := newTestWorker(store, NoopDriver{}, clock)
	w.Logger = slog.New(logs)
	mustOpen(t, w)

	store.waitFor(t, "completion after claim errors", func() bool { return store.completed["i1"] == 1 })
	if n := logs.count("claim commands"); n != 1 {
		t.Fatalf("claim error logged %d times within the interval, want 1", n)
	}
}

func TestWorker_RecordRetriedWhileStoreBusy(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock)
	store.add("i1", clock.Now())
	store.completeErrs = 3
	drv := &scriptDriver{}
	mustOpen(t, newTestWorker(store, drv, clock))

	store.waitFor(t, "completion", func() bool { return store.completed["i1"] == 1 })
	if n := drv.count(); n != 1 {
		t.Fatalf("deliveries=%d, want 1: a busy store must not cost a second delivery", n)
	}
	if job := store.job("i1"); job.Attempts != 0 || job.State != phonefleet.JobStateDone {
		t.Fatalf("job=%+v, want done at the first attempt", job)
	}
}

func TestWorker_DriverPanicAndTimeout(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock)
	store.add("panic", clock.Now())
	store.add("slow", clock.Now())
	w := newTestWorker(store, driverFunc(func(ctx context.Context, job *phonefleet.Command) error {
		if job.InstanceID == "panic" {
			panic("driver bug")
		}
		<-ctx.Done() // bounded by the lease
		return ctx.Err()
	}), clock)
	w.Lease = 50 * time.Millisecond
	mustOpen(t, w)

	store.waitFor(t, "both failures", func() bool { return len(store.fails) == 2 })
	got := map[string]string{}
	for _, f := range store.fails {
		got[f.instanceID] = f.lastError
	}
	if !strings.Contains(got["panic"], "driver panic: driver bug") {
		t.Fatalf("panic recorded as %q", got["panic"])
	}
	if !strings.Contains(got["slow"], "deadline exceeded") {
		t.Fatalf("slow delivery recorded as %q, want a deadline error", got["slow"])
	}
}

func TestWorker_Open(t *testing.T) {
	if err := (&Worker{Driver: NoopDriver{}}).Open(); err == nil {
		t.Fatal("Open without a store succeeded")
	}
	if err := (&Worker{Store: newFakeStore(newFakeClock())}).Open(); err == nil {
		t.Fatal("Open without a driver succeeded")
	}
	if err := (&Worker{}).Close(); err != nil {
		t.Fatalf("Close before Open: %v", err)
	}

	w := NewWorker(newFakeStore(newFakeClock()), NoopDriver{})
	w.Logger = slog.New(newLogCapture())
	mustOpen(t, w)
	if err := w.Open(); err == nil {
		t.Fatal("second Open succeeded")
	}
	if w.Concurrency != 4 || w.MaxAttempts != 20 || w.Backoff != time.Second || w.MaxBackoff != 5*time.Minute ||
		w.PollInterval != time.Second || w.Lease != 15*time.Second || w.Owner == "" {
		t.Fatalf("defaults: %+v", w)
	}
	w2 := NewWorker(newFakeStore(newFakeClock()), NoopDriver{})
	w2.setDefaults()
	if w2.Owner == w.Owner {
		t.Fatalf("two workers share owner %q", w.Owner)
	}
}

// newTestWorker returns a worker that polls every millisecond, on clock,
// without jitter, logging nowhere.
func newTestWorker(store phonefleet.CommandService, drv Driver, clock *testingutil.Clock) *Worker {
	w := NewWorker(store, drv)
	w.PollInterval = time.Millisecond
	w.Backoff, w.MaxBackoff = time.Second, time.Minute
	w.Owner = "test-" + phonefleet.NewID(4)
	w.Now = clock.Now
	w.rand = func() float64 { return 0.5 }
	w.Logger = slog.New(slog.DiscardHandler)
	return w
}

func mustOpen(tb testing.TB, w *Worker) {
	tb.Helper()
	if err := w.Open(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { w.Close() })
}

// recv returns the next value of ch, failing after 10 seconds.
func recv[T any](tb testing.TB, ch <-chan T) T {
	tb.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		tb.Fatal("timed out waiting on a channel")
	}
	panic("unreachable")
}

// deliveriesCount reads phonefleet_release_deliveries_total{outcome}.
func deliveriesCount(tb testing.TB, outcome string) float64 {
	tb.Helper()
	mfs, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "phonefleet_release_deliveries_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "outcome" && l.GetValue() == outcome {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// newFakeClock returns a clock at 2026-01-01 UTC that moves only when told.
func newFakeClock() *testingutil.Clock {
	return testingutil.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
}

// fakeStore is an in-memory CommandService with the semantics documented
// in job.go, on a fake clock. Every call broadcasts so tests can wait for a
// condition without sleeping.
type fakeStore struct {
	clock *testingutil.Clock

	mu           sync.Mutex
	changed      chan struct{} // closed and replaced on every call
	jobs         map[string]*fakeJob
	claims       int
	claimLimits  []int
	claimErrs    int // fail this many claims first
	completeErrs int // and this many completions
	fails        []failCall
	completed    map[string]int
}

type fakeJob struct {
	job        phonefleet.Command
	owner      string
	leaseUntil time.Time
}

type failCall struct {
	instanceID, owner, lastError string
	next                         time.Time
	final                        bool
}

var _ phonefleet.CommandService = (*fakeStore)(nil)

func newFakeStore(clock *testingutil.Clock) *fakeStore {
	return &fakeStore{clock: clock, changed: make(chan struct{}), jobs: map[string]*fakeJob{}, completed: map[string]int{}}
}

func (s *fakeStore) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// add inserts a pending job due at due.
func (s *fakeStore) add(id string, due time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jobs[id] = &fakeJob{job: phonefleet.Command{
		ID: id, Type: phonefleet.CommandRelease, InstanceID: id, TenantID: "tn1", EventID: "evt_" + id, RequestID: "req-" + id,
		State: phonefleet.JobStatePending, NextAttemptAt: due, CreatedAt: due,
	}}
	s.broadcast()
}

func (s *fakeStore) job(id string) phonefleet.Command {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id].job
}

func (s *fakeStore) leased(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.jobs[id].leaseUntil.After(s.clock.Now())
}

// waitFor waits until cond, called with the store locked, holds.
func (s *fakeStore) waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		s.mu.Lock()
		ok, changed := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline:
			tb.Fatalf("timed out waiting for %s", what)
		}
	}
}

// waitClaims waits for n more claim calls.
func (s *fakeStore) waitClaims(tb testing.TB, n int) {
	tb.Helper()
	s.mu.Lock()
	want := s.claims + n
	s.mu.Unlock()
	s.waitFor(tb, "claims", func() bool { return s.claims >= want })
}

func (s *fakeStore) ClaimCommands(ctx context.Context, owner string, limit int, lease time.Duration) ([]*phonefleet.Command, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.broadcast()
	s.claims++
	s.claimLimits = append(s.claimLimits, limit)
	if s.claimErrs > 0 {
		s.claimErrs--
		return nil, errors.New("database is locked")
	}
	now := s.clock.Now()
	var due []*fakeJob
	for _, j := range s.jobs {
		if j.job.State == phonefleet.JobStatePending && !j.job.NextAttemptAt.After(now) && !j.leaseUntil.After(now) {
			due = append(due, j)
		}
	}
	slices.SortFunc(due, func(a, b *fakeJob) int {
		if c := a.job.NextAttemptAt.Compare(b.job.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.job.InstanceID, b.job.InstanceID)
	})
	var out []*phonefleet.Command
	for _, j := range due[:min(limit, len(due))] {
		j.owner, j.leaseUntil = owner, now.Add(lease)
		cp := j.job
		out = append(out, &cp)
	}
	return out, nil
}

func (s *fakeStore) CompleteCommand(ctx context.Context, instanceID, owner string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.broadcast()
	if s.completeErrs > 0 {
		s.completeErrs--
		return errors.New("database is locked")
	}
	j := s.jobs[instanceID]
	if j == nil {
		return phonefleet.Errorf(phonefleet.ENotFound, "release job %q not found", instanceID)
	} else if !j.job.State.InFlight() {
		return nil
	}
	now := s.clock.Now()
	j.job.State, j.job.DoneAt, j.owner, j.leaseUntil = phonefleet.JobStateDone, &now, "", time.Time{}
	s.completed[instanceID]++
	return nil
}

func (s *fakeStore) FailCommand(ctx context.Context, instanceID, owner, lastError string, next time.Time, final bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.broadcast()
	s.fails = append(s.fails, failCall{instanceID, owner, lastError, next, final})
	j := s.jobs[instanceID]
	if j == nil {
		return phonefleet.Errorf(phonefleet.ENotFound, "release job %q not found", instanceID)
	} else if j.owner != owner || j.job.State != phonefleet.JobStatePending {
		return nil
	}
	j.job.Attempts++
	j.job.LastError, j.owner, j.leaseUntil = lastError, "", time.Time{}
	if final {
		j.job.State = phonefleet.JobStateFailed
	} else {
		j.job.NextAttemptAt = next
	}
	return nil
}

func (s *fakeStore) AcceptCommand(ctx context.Context, jobID, owner string, deadline time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.broadcast()
	j := s.jobs[jobID]
	if j == nil {
		return phonefleet.Errorf(phonefleet.ENotFound, "job %q not found", jobID)
	} else if j.owner != owner || j.job.State != phonefleet.JobStatePending {
		return nil
	}
	j.job.Attempts++
	j.job.State, j.job.NextAttemptAt, j.owner, j.leaseUntil = phonefleet.JobStateAccepted, deadline, "", time.Time{}
	return nil
}

func (s *fakeStore) ReportCommand(ctx context.Context, jobID string, r phonefleet.CommandReport) error {
	return errors.New("fakeStore: ReportCommand is not used by the worker")
}

func (s *fakeStore) RetryCommand(ctx context.Context, instanceID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.broadcast()
	j := s.jobs[instanceID]
	if j == nil {
		return phonefleet.Errorf(phonefleet.ENotFound, "release job %q not found", instanceID)
	} else if j.job.State != phonefleet.JobStateFailed {
		return phonefleet.Errorf(phonefleet.EInvalid, "release job %q is %s, not failed", instanceID, j.job.State)
	}
	j.job.State, j.job.Attempts, j.job.NextAttemptAt = phonefleet.JobStatePending, 0, s.clock.Now()
	return nil
}

func (s *fakeStore) FindCommands(ctx context.Context, filter phonefleet.CommandFilter) ([]*phonefleet.Command, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*phonefleet.Command
	for _, j := range s.jobs {
		if filter.State == nil || *filter.State == j.job.State {
			cp := j.job
			out = append(out, &cp)
		}
	}
	return out, nil
}

// scriptDriver returns errs in turn, then always (nil: success), and
// records every job it was given.
type scriptDriver struct {
	mu     sync.Mutex
	errs   []error
	always error
	calls  []phonefleet.Command
}

func (d *scriptDriver) Deliver(ctx context.Context, job *phonefleet.Command) (bool, error) {
	return false, d.release(ctx, job)
}

func (d *scriptDriver) release(ctx context.Context, job *phonefleet.Command) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.calls = append(d.calls, *job)
	if len(d.errs) > 0 {
		err := d.errs[0]
		d.errs = d.errs[1:]
		return err
	}
	return d.always
}

func (d *scriptDriver) setAlways(err error) { d.mu.Lock(); d.always = err; d.mu.Unlock() }
func (d *scriptDriver) count() int          { d.mu.Lock(); defer d.mu.Unlock(); return len(d.calls) }
func (d *scriptDriver) jobs() []phonefleet.Command {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.calls)
}

// gateDriver announces each delivery on started and holds it until gate is
// closed, tracking how many are in flight.
type gateDriver struct {
	gate    chan struct{}
	started chan string

	mu          sync.Mutex
	inFlight    int
	maxInFlight int
	ctxErr      error
}

func (d *gateDriver) Deliver(ctx context.Context, job *phonefleet.Command) (bool, error) {
	return false, d.release(ctx, job)
}

func (d *gateDriver) release(ctx context.Context, job *phonefleet.Command) error {
	d.mu.Lock()
	d.inFlight++
	d.maxInFlight = max(d.maxInFlight, d.inFlight)
	d.mu.Unlock()
	d.started <- job.InstanceID
	select {
	case <-d.gate:
	case <-ctx.Done():
	}
	d.mu.Lock()
	d.inFlight--
	d.ctxErr = ctx.Err()
	d.mu.Unlock()
	return ctx.Err()
}

type driverFunc func(ctx context.Context, job *phonefleet.Command) error

func (f driverFunc) Deliver(ctx context.Context, job *phonefleet.Command) (bool, error) {
	return false, f(ctx, job)
}

// logCapture is a slog.Handler that keeps messages and lets tests wait for one.
type logCapture struct {
	mu      *sync.Mutex
	msgs    *[]string
	changed *chan struct{}
}

func newLogCapture() *logCapture {
	ch := make(chan struct{})
	return &logCapture{mu: &sync.Mutex{}, msgs: &[]string{}, changed: &ch}
}

func (h *logCapture) Enabled(context.Context, slog.Level) bool { return true }
func (h *logCapture) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h *logCapture) WithGroup(string) slog.Handler            { return h }
func (h *logCapture) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	*h.msgs = append(*h.msgs, r.Message)
	close(*h.changed)
	*h.changed = make(chan struct{})
	return nil
}

func (h *logCapture) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range *h.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

func (h *logCapture) waitFor(tb testing.TB, msg string) {
	tb.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		ch := *h.changed
		h.mu.Unlock()
		if h.count(msg) > 0 {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			tb.Fatalf("timed out waiting for log %q", msg)
		}
	}
}

// acceptDriver takes every command with 202: the data plane reports later.
type acceptDriver struct{ n atomic.Int32 }

func (d *acceptDriver) Deliver(ctx context.Context, job *phonefleet.Command) (bool, error) {
	d.n.Add(1)
	return true, nil
}

// TestWorker_Accepted: a command the data plane accepts stays in flight,
// accepted, with its report due CommandTimeout later; it is neither
// completed nor delivered again.
func TestWorker_Accepted(t *testing.T) {
	clock := newFakeClock()
	store := newFakeStore(clock)
	store.add("i1", clock.Now())
	drv := &acceptDriver{}
	w := newTestWorker(store, drv, clock)
	w.CommandTimeout = 7 * time.Minute
	before := deliveriesCount(t, OutcomeAccepted)
	mustOpen(t, w)

	store.waitFor(t, "acceptance", func() bool { return store.jobs["i1"].job.State == phonefleet.JobStateAccepted })
	job := store.job("i1")
	if !job.NextAttemptAt.Equal(clock.Now().Add(7*time.Minute)) || job.Attempts != 1 {
		t.Fatalf("job=%+v, want accepted with its report due in 7m", job)
	}
	store.waitClaims(t, 3)
	clock.Add(time.Hour)
	store.waitClaims(t, 3)
	if n := drv.n.Load(); n != 1 {
		t.Fatalf("deliveries=%d, want 1", n)
	}
	if store.completed["i1"] != 0 {
		t.Fatal("an accepted command was completed")
	}
	if got := deliveriesCount(t, OutcomeAccepted) - before; got != 1 {
		t.Fatalf("accepted deliveries counted=%v, want 1", got)
	}
}
