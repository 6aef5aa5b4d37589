package release

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/sqlite"
)

// These tests run the worker and the webhook driver against a real SQLite
// store and a real HTTP receiver.

const testSecret = "receiver-secret"

func TestSQLite_NoopReleases(t *testing.T) {
	db := mustOpenDB(t, filepath.Join(t.TempDir(), "db"))
	tenantID, ids, kept := mustUnsubscribed(t, db, 2)
	store := newHookStore(db)
	w := newSQLiteWorker(store, NoopDriver{}, "noop")
	mustOpen(t, w)

	waitDone(t, store.done, ids)
	assertReleased(t, db, tenantID, ids, kept)
}

func TestSQLite_FailuresThenSuccess(t *testing.T) {
	db := mustOpenDB(t, filepath.Join(t.TempDir(), "db"))
	tenantID, ids, kept := mustUnsubscribed(t, db, 3)
	rcv := newReceiver(t, func(n int, r *http.Request) int {
		if n <= 2 {
			return http.StatusInternalServerError
		}
		return http.StatusOK
	})
	store := newHookStore(db)
	w := newSQLiteWorker(store, NewWebhookDriver(rcv.URL, testSecret), "w1")
	mustOpen(t, w)

	waitDone(t, store.done, ids)
	assertReleased(t, db, tenantID, ids, kept)
	jobs := findJobs(t, db)
	seen := map[string]string{} // event ID -> instance ID
	for _, id := range ids {
		job := jobs[id]
		if job.State != phonefleet.JobStateDone || job.Attempts != 2 || job.LastError != "" || !strings.Contains(store.lastError(job.ID), "webhook status 500") {
			t.Fatalf("job %s=%+v, want done after 2 failed attempts with status 500", id, job)
		}
		evs := rcv.events(job.EventID)
		if len(evs) != 3 {
			t.Fatalf("event %s delivered %d times, want 3", job.EventID, len(evs))
		}
		for _, ev := range evs {
			want := Event{ID: job.EventID, Type: "instance.release", JobID: job.ID, InstanceID: id, TenantID: tenantID,
				RequestID: "req-unsubscribe", CreatedAt: job.CreatedAt.UTC().Format(time.RFC3339)}
			if ev != want {
				t.Fatalf("event=%+v, want %+v", ev, want)
			}
		}
		if other, ok := seen[job.EventID]; ok {
			t.Fatalf("instances %s and %s share event ID %s", other, id, job.EventID)
		}
		seen[job.EventID] = id
	}
	if rcv.badSignatures() != 0 {
		t.Fatalf("%d deliveries with a bad signature or header", rcv.badSignatures())
	}
}

func TestSQLite_SlowReceiver(t *testing.T) {
	db := mustOpenDB(t, filepath.Join(t.TempDir(), "db"))
	tenantID, ids, kept := mustUnsubscribed(t, db, 2)
	rcv := newReceiver(t, func(n int, r *http.Request) int {
		if n == 1 {
			<-r.Context().Done() // slower than the driver's timeout: it hangs up first
		}
		return http.StatusOK
	})
	drv := NewWebhookDriver(rcv.URL, testSecret)
	drv.Client.Timeout = 200 * time.Millisecond
	store := newHookStore(db)
	mustOpen(t, newSQLiteWorker(store, drv, "w1"))

	waitDone(t, store.done, ids)
	assertReleased(t, db, tenantID, ids, kept)
	jobs := findJobs(t, db)
	for _, id := range ids {
		job := jobs[id]
		if job.Attempts != 1 || job.LastError != "" || !strings.Contains(store.lastError(job.ID), "Timeout") {
			t.Fatalf("job %s=%+v, want 1 timed-out attempt", id, job)
		}
		if n := len(rcv.events(job.EventID)); n != 2 {
			t.Fatalf("event %s delivered %d times, want 2", job.EventID, n)
		}
	}
}

func TestSQLite_ReceiverDownThenUp(t *testing.T) {
	db := mustOpenDB(t, filepath.Join(t.TempDir(), "db"))
	tenantID, ids, kept := mustUnsubscribed(t, db, 2)

	// Reserve a port and close it: connections are refused until the
	// receiver comes up on it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	store := newHookStore(db)
	w := newSQLiteWorker(store, NewWebhookDriver("http://"+addr+"/hook", testSecret), "w1")
	mustOpen(t, w)

	// Two failed attempts per job while down.
	failed := map[string]int{}
	for failed[ids[0]] < 2 || failed[ids[1]] < 2 {
		failed[recv(t, store.failed)]++
	}

	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen again on %s: %v", addr, err)
	}
	rcv := newReceiverOn(t, ln, func(int, *http.Request) int { return http.StatusNoContent })

	waitDone(t, store.done, ids)
	assertReleased(t, db, tenantID, ids, kept)
	jobs := findJobs(t, db)
	for _, id := range ids {
		job := jobs[id]
		if job.Attempts < 2 || job.LastError != "" || !strings.Contains(store.lastError(job.ID), "connection refused") {
			t.Fatalf("job %s=%+v, want >= 2 refused attempts", id, job)
		}
		if n := len(rcv.events(job.EventID)); n != 1 {
			t.Fatalf("event %s delivered %d times once up, want 1", job.EventID, n)
		}
	}
	if rcv.badSignatures() != 0 {
		t.Fatalf("%d deliveries with a bad signature", rcv.badSignatures())
	}
}

func TestSQLite_TwoWorkersDeliverOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	db := mustOpenDB(t, path)
	tenantID, ids, kept := mustUnsubscribed(t, db, 24)

	// The receiver answers slowly: it holds every delivery until 8 are in
	// flight at once, which only both workers together (4 slots each) can
	// reach, then answers the rest after a short pause.
	var mu sync.Mutex
	inFlight, maxInFlight := 0, 0
	full := make(chan struct{})
	var fullOnce sync.Once
	rcv := newReceiver(t, func(n int, r *http.Request) int {
		mu.Lock()
		inFlight++
		maxInFlight = max(maxInFlight, inFlight)
		if inFlight == 8 {
			// In flight can climb back to 8 later; the gate opens once.
			fullOnce.Do(func() { close(full) })
		}
		mu.Unlock()
		select {
		case <-full:
		case <-r.Context().Done():
		}
		time.Sleep(10 * time.Millisecond) // a slow data plane, not synchronisation
		mu.Lock()
		inFlight--
		mu.Unlock()
		return http.StatusOK
	})

	// Two stores on one file, as two processes would have.
	done := make(chan string, len(ids))
	byOwner := map[string]*int{"a": new(int), "b": new(int)}
	for _, owner := range []string{"a", "b"} {
		s := newHookStore(mustOpenDB(t, path))
		go func() {
			for id := range s.done {
				mu.Lock()
				*byOwner[owner]++
				mu.Unlock()
				done <- id
			}
		}()
		w := newSQLiteWorker(s, NewWebhookDriver(rcv.URL, testSecret), owner)
		w.Concurrency = 4
		w.PollInterval = 20 * time.Millisecond
		mustOpen(t, w)
	}

	waitDone(t, done, ids)
	assertReleased(t, db, tenantID, ids, kept)
	jobs := findJobs(t, db)
	for _, id := range ids {
		if n := len(rcv.events(jobs[id].EventID)); n != 1 {
			t.Fatalf("event %s of %s delivered %d times, want exactly 1", jobs[id].EventID, id, n)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if *byOwner["a"] == 0 || *byOwner["b"] == 0 {
		t.Fatalf("deliveries by owner a=%d b=%d, want both workers to take part", *byOwner["a"], *byOwner["b"])
	}
	if maxInFlight != 8 {
		t.Fatalf("receiver saw at most %d deliveries at once, want 2 workers x 4", maxInFlight)
	}
}

func mustOpenDB(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db := sqlite.NewDB(path)
	db.Logger = slog.New(slog.DiscardHandler)
	if err := db.Open(); err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// mustUnsubscribed creates a tenant, buys n+1 monthly instances and
// unsubscribes the first n in one request ("req-unsubscribe"). It returns
// the tenant ID, the unsubscribed IDs and the one left running.
func mustUnsubscribed(tb testing.TB, store phonefleet.Store, n int) (tenantID string, ids []string, kept string) {
	tb.Helper()
	ctx := context.Background()
	tenant := &phonefleet.Tenant{Name: "acme-" + phonefleet.NewID(4)}
	if err := store.CreateTenant(ctx, tenant); err != nil {
		tb.Fatalf("create tenant: %v", err)
	}
	_, instances, err := store.Purchase(ctx, &phonefleet.PurchaseRequest{
		TenantID: tenant.ID, RequestID: "req-purchase", OS: "AOSP11", InstanceSKUID: "kp.pro.2u4g",
		BandSKUID: phonefleet.BandSKUID, RegionID: "ap-southeast-1", NamePrefix: "rel", BandSize: 2,
		Count: n + 1, ChargingMode: phonefleet.ChargingModePrepaid, PeriodType: phonefleet.PeriodTypeMonth, PeriodNum: 1,
	})
	if err != nil {
		tb.Fatalf("purchase: %v", err)
	}
	for _, in := range instances[:n] {
		ids = append(ids, in.ID)
	}
	if _, err := store.Unsubscribe(ctx, &phonefleet.UnsubscribeRequest{
		TenantID: tenant.ID, RequestID: "req-unsubscribe", InstanceIDs: ids,
	}); err != nil {
		tb.Fatalf("unsubscribe: %v", err)
	}
	states, err := store.FindInstanceStatuses(ctx, tenant.ID, ids)
	if err != nil {
		tb.Fatal(err)
	}
	for _, id := range ids {
		if states[id].State != phonefleet.InstanceStateDeleting {
			tb.Fatalf("instance %s is %q after unsubscribe, want deleting", id, states[id].State)
		}
	}
	return tenant.ID, ids, instances[n].ID
}

// newSQLiteWorker returns a worker with short real-time delays.
func newSQLiteWorker(store phonefleet.CommandService, drv Driver, owner string) *Worker {
	w := NewWorker(store, drv)
	w.Owner = owner
	w.PollInterval = 5 * time.Millisecond
	w.Backoff, w.MaxBackoff = 5*time.Millisecond, 20*time.Millisecond
	w.Logger = slog.New(slog.DiscardHandler)
	return w
}

// hookStore announces every completed job on done and every recorded
// failure on failed, so tests wait on channels rather than poll.
type hookStore struct {
	phonefleet.CommandService
	done, failed chan string

	mu     sync.Mutex
	errors map[string]string // job ID -> the last error recorded
}

func newHookStore(s phonefleet.CommandService) *hookStore {
	return &hookStore{CommandService: s, done: make(chan string, 1000), failed: make(chan string, 1000), errors: map[string]string{}}
}

// lastError returns the last error a failed attempt of the job recorded
// (the job's own last_error is cleared once it is done).
func (s *hookStore) lastError(jobID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.errors[jobID]
}

func (s *hookStore) CompleteCommand(ctx context.Context, jobID, owner string) error {
	err := s.CommandService.CompleteCommand(ctx, jobID, owner)
	if err == nil {
		s.done <- s.instanceOf(ctx, jobID)
	}
	return err
}

func (s *hookStore) FailCommand(ctx context.Context, jobID, owner, lastError string, next time.Time, final bool) error {
	err := s.CommandService.FailCommand(ctx, jobID, owner, lastError, next, final)
	if err == nil {
		s.mu.Lock()
		s.errors[jobID] = lastError
		s.mu.Unlock()
		select {
		case s.failed <- s.instanceOf(ctx, jobID):
		default: // nobody is counting
		}
	}
	return err
}

// instanceOf returns the instance of a job, or the job ID if it cannot
// tell.
func (s *hookStore) instanceOf(ctx context.Context, jobID string) string {
	cs, err := s.CommandService.FindCommands(ctx, phonefleet.CommandFilter{})
	if err == nil {
		for _, c := range cs {
			if c.ID == jobID {
				return c.InstanceID
			}
		}
	}
	return jobID
}

// waitDone waits until every one of ids has been completed once, and fails
// on a second completion seen meanwhile.
func waitDone(tb testing.TB, done <-chan string, ids []string) {
	tb.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	for len(want) > 0 {
		id := recv(tb, done)
		if !want[id] {
			tb.Fatalf("instance %s completed twice or unexpectedly", id)
		}
		delete(want, id)
	}
}

// assertReleased checks that ids are released (status 0) and kept is
// still running.
func assertReleased(tb testing.TB, store phonefleet.Store, tenantID string, ids []string, kept string) {
	tb.Helper()
	states, err := store.FindInstanceStatuses(context.Background(), tenantID, append([]string{kept}, ids...))
	if err != nil {
		tb.Fatal(err)
	}
	for _, id := range ids {
		if states[id].State != phonefleet.InstanceStateReleased || states[id].RunningStatus() != phonefleet.StatusUnknown {
			tb.Fatalf("instance %s is %q, want released", id, states[id])
		}
	}
	if states[kept].State != phonefleet.InstanceStateRunning {
		tb.Fatalf("untouched instance %s is %q, want running", kept, states[kept])
	}
}

func findJobs(tb testing.TB, store phonefleet.CommandService) map[string]*phonefleet.Command {
	tb.Helper()
	jobs, err := store.FindCommands(context.Background(), phonefleet.CommandFilter{})
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]*phonefleet.Command{}
	for _, j := range jobs {
		out[j.InstanceID] = j
	}
	return out
}

// receiver is a webhook endpoint that checks signatures and records every
// delivery by event ID. respond answers the nth delivery of an event.
type receiver struct {
	URL     string
	respond func(n int, r *http.Request) int

	mu     sync.Mutex
	byID   map[string][]Event
	badSig int
}

func newReceiver(tb testing.TB, respond func(n int, r *http.Request) int) *receiver {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return newReceiverOn(tb, ln, respond)
}

func newReceiverOn(tb testing.TB, ln net.Listener, respond func(n int, r *http.Request) int) *receiver {
	rcv := &receiver{respond: respond, byID: map[string][]Event{}}
	srv := httptest.NewUnstartedServer(rcv)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	tb.Cleanup(srv.Close)
	rcv.URL = srv.URL + "/hook"
	return rcv
}

// verified reports whether the delivery's signature is good for its time,
// method, path and body.
func verified(body []byte, r *http.Request) bool {
	_, err := Verify([]byte(testSecret), r.Header.Get(HeaderSignature), r.Method, r.URL.EscapedPath(), body, time.Now())
	return err == nil
}

// ServeHTTP verifies and records one delivery the way a data plane should.
func (rcv *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var ev Event
	if err == nil {
		err = json.Unmarshal(body, &ev)
	}
	rcv.mu.Lock()
	if err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" ||
		!verified(body, r) || r.Header.Get(HeaderEventID) != ev.ID {
		rcv.badSig++
		rcv.mu.Unlock()
		http.Error(w, "bad delivery", http.StatusBadRequest)
		return
	}
	rcv.byID[ev.ID] = append(rcv.byID[ev.ID], ev)
	n := len(rcv.byID[ev.ID])
	rcv.mu.Unlock()

	status := rcv.respond(n, r)
	w.WriteHeader(status)
	fmt.Fprintf(w, "delivery %d of %s: %d\n", n, ev.ID, status)
}

func (rcv *receiver) events(eventID string) []Event {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return append([]Event(nil), rcv.byID[eventID]...)
}

func (rcv *receiver) badSignatures() int {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return rcv.badSig
}
