package sqlite

import (
	"context"
	"errors"
	"log/slog"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/phonefleet/phonefleet"
)

// writerHold stops a DB's writer before its next batch once armed, until
// released. While the writer is held nothing is taken from the queue, so
// the next batch is exactly what was queued (up to MaxBatch).
type writerHold struct {
	armed  atomic.Bool
	queued chan int // queue lengths after each enqueue while armed
	hold   chan struct{}
	once   sync.Once
}

// newWriterHold returns a hold and the configure function that installs
// it; hooks are set before Open, since the writer reads them.
func newWriterHold(configure func(*DB)) (*writerHold, func(*DB)) {
	h := &writerHold{queued: make(chan int, 1000), hold: make(chan struct{})}
	return h, func(db *DB) {
		db.testHookQueued = func(n int) {
			if h.armed.Load() {
				h.queued <- n
			}
		}
		db.testHookBeforeBatch = func() {
			if h.armed.Load() {
				h.once.Do(func() { <-h.hold })
			}
		}
		if configure != nil {
			configure(db)
		}
	}
}

// arm makes the writer stop before its next batch.
func (h *writerHold) arm() { h.armed.Store(true) }

// waitQueued returns once n operations are queued since arm.
func (h *writerHold) waitQueued(n int) {
	for got := range h.queued {
		if got >= n {
			return
		}
	}
}

// release lets the writer go on.
func (h *writerHold) release() { close(h.hold) }

// runAll runs ops concurrently while the writer is held (armed), lets the
// writer go once all are queued, so that they share its next batch, and
// returns their errors.
func (h *writerHold) runAll(ops []func() error) []error {
	var errs []error
	done := make(chan struct{})
	go func() { errs = runOps(ops); close(done) }()
	h.waitQueued(len(ops))
	h.release()
	<-done
	return errs
}

// openHeld opens a database whose writer h can hold; configure (or nil)
// sets more fields before Open.
func openHeld(t *testing.T, path string, configure func(*DB)) (*DB, *writerHold) {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "phonefleet.db")
	}
	h, configure := newWriterHold(configure)
	return mustOpenDBWith(t, path, configure), h
}

// writerSetup opens a held database with tenant acme owning n running
// monthly instances.
func writerSetup(t *testing.T, n int, configure func(*DB)) (*DB, *writerHold, *phonefleet.Tenant, []*phonefleet.Instance) {
	t.Helper()
	db, h := openHeld(t, "", configure)
	tn := &phonefleet.Tenant{Name: "acme"}
	if err := db.CreateTenant(t.Context(), tn); err != nil {
		t.Fatal(err)
	}
	_, ins, err := db.Purchase(t.Context(), monthlyRequest(tn.ID, n))
	if err != nil {
		t.Fatal(err)
	}
	return db, h, tn, ins
}

// runOps calls each op in a goroutine of its own and returns their errors
// once all have returned.
func runOps(ops []func() error) []error {
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() { errs[i] = op() })
	}
	wg.Wait()
	return errs
}

// TestWriter_BatchIsolation runs ten operations in one batch: eight
// unsubscribes, one of which fails half-way through its writes (a trigger
// rejects its release job after its instance and refund were written), and
// two tenant creations, one of which violates the unique name. Only the two
// failed operations are undone.
func TestWriter_BatchIsolation(t *testing.T) {
	batches := make(chan int, 100)
	db, h, tn, ins := writerSetup(t, 8, func(db *DB) {
		db.testHookCommit = func(n int) error { batches <- n; return nil }
	})
	bad := ins[3].ID
	if _, err := db.wdb.ExecContext(t.Context(), `
		CREATE TRIGGER fail_release_job BEFORE INSERT ON commands
		WHEN NEW.instance_id = '`+bad+`'
		BEGIN SELECT RAISE(ABORT, 'injected failure'); END
	`); err != nil {
		t.Fatal(err)
	}
	for len(batches) > 0 { // the setup's
		<-batches
	}
	h.arm()

	var ops []func() error
	for _, in := range ins {
		ops = append(ops, func() error {
			_, err := db.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
				TenantID: tn.ID, RequestID: "req-" + in.ID, InstanceIDs: []string{in.ID},
			})
			return err
		})
	}
	ops = append(ops,
		func() error { return db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "globex"}) },
		func() error { return db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "acme"}) },
	)
	errs := h.runAll(ops)

	if n := <-batches; n != len(ops) {
		t.Fatalf("first batch ran %d operations, want all %d", n, len(ops))
	}
	for i, err := range errs {
		switch {
		case i < len(ins) && ins[i].ID == bad:
			if phonefleet.ErrorCode(err) != phonefleet.EInternal || !strings.Contains(err.Error(), "injected failure") {
				t.Fatalf("unsubscribe of %s: err=%v, want the injected internal error", bad, err)
			}
		case i == len(ops)-1:
			if phonefleet.ErrorCode(err) != phonefleet.EConflict {
				t.Fatalf("duplicate tenant: err=%v, want %s", err, phonefleet.EConflict)
			}
		case err != nil:
			t.Fatalf("operation %d: %v", i, err)
		}
	}

	all, _, err := db.FindInstances(t.Context(), phonefleet.InstanceFilter{TenantID: tn.ID, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range all {
		want := phonefleet.InstanceStateDeleting
		if in.ID == bad {
			want = phonefleet.InstanceStateRunning
		}
		if in.State != want {
			t.Fatalf("instance %s State=%s, want %s", in.ID, in.State, want)
		}
	}
	refunds, err := db.FindRefunds(t.Context(), phonefleet.RefundFilter{})
	if err != nil {
		t.Fatal(err)
	} else if len(refunds) != len(ins)-1 {
		t.Fatalf("refunds=%d, want %d", len(refunds), len(ins)-1)
	}
	for _, r := range refunds {
		if r.InstanceID == bad {
			t.Fatalf("refund of the failed unsubscribe %s was kept", bad)
		}
	}
	if js, err := db.FindCommands(t.Context(), phonefleet.CommandFilter{}); err != nil {
		t.Fatal(err)
	} else if len(js) != len(ins)-1 {
		t.Fatalf("release jobs=%d, want %d", len(js), len(ins)-1)
	}
	if ts, err := db.FindTenants(t.Context()); err != nil {
		t.Fatal(err)
	} else if len(ts) != 2 || ts[0].Name != "acme" || ts[1].Name != "globex" {
		t.Fatalf("tenants=%+v, want acme and globex", ts)
	}
	// The purchase and the successful unsubscribes; the failed one wrote
	// nothing, no audit event either (the HTTP layer audits failures).
	es, err := db.FindAuditEvents(t.Context(), phonefleet.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	} else if len(es) != len(ins) {
		t.Fatalf("audit events=%d, want %d", len(es), len(ins))
	}
	for _, e := range es {
		if e.ErrorCode != phonefleet.ECodeOK || e.RequestID == "req-"+bad {
			t.Fatalf("audit event=%+v, want only the successful operations", e)
		}
	}
}

// TestWriter_CommitFailure fails the commit of a batch of seven operations:
// no caller is answered before the commit, every one gets the error, and
// nothing of the batch is written, audit events included.
func TestWriter_CommitFailure(t *testing.T) {
	var answered atomic.Int32
	answeredAtCommit := make(chan int32, 1)
	var armed, failed atomic.Bool
	db, h, tn, ins := writerSetup(t, 5, func(db *DB) {
		db.testHookCommit = func(n int) error {
			if armed.Load() && failed.CompareAndSwap(false, true) {
				answeredAtCommit <- answered.Load()
				if n != 7 {
					return errors.New("injected commit failure, but the batch was short")
				}
				return errors.New("injected commit failure")
			}
			return nil
		}
	})
	armed.Store(true)
	h.arm()

	var ops []func() error
	for _, in := range ins {
		ops = append(ops, func() error {
			_, err := db.Unsubscribe(t.Context(), &phonefleet.UnsubscribeRequest{
				TenantID: tn.ID, RequestID: "req-" + in.ID, InstanceIDs: []string{in.ID},
			})
			answered.Add(1)
			return err
		})
	}
	ops = append(ops,
		func() error {
			err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "globex"})
			answered.Add(1)
			return err
		},
		func() error {
			err := db.CreateAuditEvent(t.Context(), &phonefleet.AuditEvent{TenantID: tn.ID, Action: "cli", ErrorCode: "0"})
			answered.Add(1)
			return err
		},
	)
	errs := h.runAll(ops)

	if n := <-answeredAtCommit; n != 0 {
		t.Fatalf("%d callers answered before the commit", n)
	}
	for i, err := range errs {
		if err == nil || err.Error() != "injected commit failure" {
			t.Fatalf("operation %d: err=%v, want the injected commit failure", i, err)
		} else if code := phonefleet.ErrorCode(err); code != phonefleet.EInternal {
			t.Fatalf("operation %d: ErrorCode=%s, want %s", i, code, phonefleet.EInternal)
		}
	}

	MustBeUntouched(t, db, tn.ID, ins)
	if _, err := db.FindTenantByName(t.Context(), "globex"); phonefleet.ErrorCode(err) != phonefleet.ENotFound {
		t.Fatalf("FindTenantByName(globex): err=%v, want %s", err, phonefleet.ENotFound)
	}
	es, err := db.FindAuditEvents(t.Context(), phonefleet.AuditFilter{})
	if err != nil {
		t.Fatal(err)
	} else if len(es) != 1 || es[0].Action != phonefleet.ActionInstanceCreate {
		t.Fatalf("audit events=%+v, want only the purchase", es)
	}
}

// TestWriter_SyncBeforeAnswer: a committed batch is answered only after the
// fsync of the log, and the writer commits the next batch meanwhile.
func TestWriter_SyncBeforeAnswer(t *testing.T) {
	syncing, unblock := make(chan struct{}), make(chan struct{})
	committing := make(chan int, 10)
	var armed atomic.Bool
	var once sync.Once
	db := mustOpenDBWith(t, filepath.Join(t.TempDir(), "phonefleet.db"), func(db *DB) {
		db.testHookSync = func() error {
			if armed.Load() {
				once.Do(func() { close(syncing); <-unblock })
			}
			return nil
		}
		db.testHookCommit = func(n int) error {
			if armed.Load() {
				committing <- n
			}
			return nil
		}
	})
	armed.Store(true)

	first := make(chan error, 1)
	go func() { first <- db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "first"}) }()
	select {
	case <-syncing: // the first batch committed; its fsync is held
	case err := <-first:
		t.Fatalf("first caller answered (err=%v) without an fsync", err)
	}
	select {
	case err := <-first:
		t.Fatalf("first caller answered (err=%v) before the fsync", err)
	default:
	}

	second := make(chan error, 1)
	go func() { second <- db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "second"}) }()
	<-committing // the first batch's commit
	select {
	case <-committing: // the second's, while the first's fsync is still held
	case <-time.After(10 * time.Second):
		t.Fatal("the writer did not commit the next batch while the fsync was held")
	}
	select {
	case err := <-second:
		t.Fatalf("second caller answered (err=%v) before any fsync after its commit", err)
	default:
	}
	close(unblock)
	for name, c := range map[string]chan error{"first": first, "second": second} {
		if err := <-c; err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := db.FindTenantByName(t.Context(), name); err != nil {
			t.Fatalf("FindTenantByName(%s): %v", name, err)
		}
	}
}

// TestWriter_SyncFailure: when the fsync of the log fails, the batch's
// callers get an internal error, and the store refuses every later write
// and reports itself not ready: what is on disk is unknown.
func TestWriter_SyncFailure(t *testing.T) {
	var fail atomic.Bool
	db := mustOpenDBWith(t, filepath.Join(t.TempDir(), "phonefleet.db"), func(db *DB) {
		db.testHookSync = func() error {
			if fail.Load() {
				return errors.New("injected fsync failure")
			}
			return nil
		}
	})
	if err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "before"}); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "during"})
	if err == nil || !strings.Contains(err.Error(), "injected fsync failure") || phonefleet.ErrorCode(err) != phonefleet.EInternal {
		t.Fatalf("CreateTenant during the failure: err=%v, want the injected fsync failure as %s", err, phonefleet.EInternal)
	}
	fail.Store(false)
	if err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "after"}); err == nil || !strings.Contains(err.Error(), "writes are refused until restart") {
		t.Fatalf("CreateTenant after the failure: err=%v, want writes refused", err)
	}
	if err := db.Ping(t.Context()); err == nil {
		t.Fatal("Ping after a failed fsync: nil, want not ready")
	}
}

// TestWriter_Cancel: a caller that gives up while its operation is queued
// is answered at once and the operation never runs; an operation whose
// context ends while it runs completes, since it already started.
func TestWriter_Cancel(t *testing.T) {
	t.Run("Queued", func(t *testing.T) {
		db, h := openHeld(t, "", nil)
		h.arm()
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() { errc <- db.CreateTenant(ctx, &phonefleet.Tenant{Name: "ghost"}) }()
		h.waitQueued(1)
		cancel()
		// The writer is still held: the answer cannot have come from it.
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("err=%v, want %v", err, context.Canceled)
		}
		h.release()

		if err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "acme"}); err != nil {
			t.Fatal(err)
		}
		if ts, err := db.FindTenants(t.Context()); err != nil {
			t.Fatal(err)
		} else if len(ts) != 1 || ts[0].Name != "acme" {
			t.Fatalf("tenants=%+v, want only acme", ts)
		}
	})

	t.Run("Started", func(t *testing.T) {
		db := MustOpenDB(t, nil)
		ctx, cancel := context.WithCancel(t.Context())
		err := db.write(ctx, func(ctx context.Context, tx *Tx) error {
			if err := insertTenant(ctx, tx, &phonefleet.Tenant{Name: "first"}); err != nil {
				return err
			}
			cancel()
			if err := ctx.Err(); err != nil {
				return err
			}
			return insertTenant(ctx, tx, &phonefleet.Tenant{Name: "second"})
		})
		if err != nil {
			t.Fatalf("write: %v", err)
		}
		if ts, err := db.FindTenants(t.Context()); err != nil {
			t.Fatal(err)
		} else if len(ts) != 2 {
			t.Fatalf("tenants=%+v, want first and second", ts)
		}
	})
}

// TestWriter_Close runs the operations queued before Close and refuses
// later ones.
func TestWriter_Close(t *testing.T) {
	path := filepath.Join(t.TempDir(), "phonefleet.db")
	db, h := openHeld(t, path, nil)
	h.arm()
	errc := make(chan error, 1)
	go func() { errc <- db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "acme"}) }()
	h.waitQueued(1)
	closed := make(chan error, 1)
	go func() { closed <- db.Close() }()
	h.release()
	if err := <-errc; err != nil {
		t.Fatalf("operation queued before Close: %v", err)
	} else if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "late"}); !errors.Is(err, errClosed) {
		t.Fatalf("CreateTenant after Close: err=%v, want %v", err, errClosed)
	}

	db = MustOpenDBPath(t, path, nil)
	if _, err := db.FindTenantByName(t.Context(), "acme"); err != nil {
		t.Fatalf("tenant written before Close: %v", err)
	}
}

// TestWriter_Panic fails only the operation that panics.
func TestWriter_Panic(t *testing.T) {
	db := MustOpenDB(t, nil)
	db.Logger = slog.New(slog.DiscardHandler)
	err := db.write(t.Context(), func(ctx context.Context, tx *Tx) error {
		if err := insertTenant(ctx, tx, &phonefleet.Tenant{Name: "half"}); err != nil {
			return err
		}
		panic("boom")
	})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("err=%v, want the panic", err)
	}
	if err := db.CreateTenant(t.Context(), &phonefleet.Tenant{Name: "acme"}); err != nil {
		t.Fatal(err)
	}
	if ts, err := db.FindTenants(t.Context()); err != nil {
		t.Fatal(err)
	} else if len(ts) != 1 || ts[0].Name != "acme" {
		t.Fatalf("tenants=%+v, want only acme", ts)
	}
}

// TestWriter_TakeBoundedByWork: a batch is bounded by work as well as by
// count; an operation that does not fit waits, first in line, for the next
// batch, and a heavy one runs alone.
func TestWriter_TakeBoundedByWork(t *testing.T) {
	w := newWriter()
	for _, work := range []int{1, 1500, 1, 300, 300} {
		if _, err := w.enqueue(&writeOp{work: work, done: make(chan error, 1)}); err != nil {
			t.Fatal(err)
		}
	}
	works := func(batch []*writeOp) []int {
		var out []int
		for _, op := range batch {
			out = append(out, op.work)
		}
		return out
	}
	for i, want := range [][]int{{1, 1, 300}, {1500}, {300}, nil} {
		if got := works(w.take(64, 512)); !slices.Equal(got, want) {
			t.Fatalf("batch %d: works %v, want %v", i, got, want)
		}
	}
	// The count bound still holds.
	for range 3 {
		w.enqueue(&writeOp{work: 1, done: make(chan error, 1)})
	}
	if got := len(w.take(2, 512)); got != 2 {
		t.Fatalf("took %d operations, want 2", got)
	}
}

// TestTx_NoCommit checks that an operation's Tx has no Commit (nor the
// *sql.Tx's, through embedding): a write operation that tries to commit
// itself does not compile.
func TestTx_NoCommit(t *testing.T) {
	for _, name := range []string{"Commit", "Tx"} {
		if _, ok := reflect.TypeFor[*Tx]().MethodByName(name); ok {
			t.Fatalf("*Tx has a method %s", name)
		}
		if _, ok := reflect.TypeFor[Tx]().FieldByName(name); ok {
			t.Fatalf("Tx has a field %s", name)
		}
	}
}
