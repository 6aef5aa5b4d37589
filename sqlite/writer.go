package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// DefaultMaxBatch is how many write operations one group commit takes at
// most, unless DB.MaxBatch says otherwise.
const DefaultMaxBatch = 64

// MaxBatchWork bounds the rows one group commit writes (each operation
// states its work: a purchase its instances, an unsubscribe its IDs, most
// others 1). An operation that would take a batch past it waits for the
// next batch, and one that alone reaches it runs alone, so a 1,500-instance
// purchase never holds small writes in its transaction.
const MaxBatchWork = 512

// errClosed is returned by write operations on a DB that is closing.
var errClosed = errors.New("sqlite: database closed")

// opFunc is one write operation: it runs inside a transaction and returns
// an error to undo everything it wrote. It never commits.
type opFunc func(ctx context.Context, tx *Tx) error

// writeOp is an operation waiting for, or running in, a group commit.
type writeOp struct {
	ctx  context.Context
	fn   opFunc
	work int        // rows it writes, at least 1 (see MaxBatchWork)
	done chan error // buffered: the writer never waits for the caller

	// unsub, if set, says fn is this unsubscribe, which the writer may run
	// together with the batch's other unsubscribes instead of calling fn.
	unsub *unsubscribeOp
	// complete, if set, says fn is CompleteCommand of this job, which the
	// writer may run together with the batch's other completions.
	complete string

	// Guarded by writer.mu.
	taken    bool // the writer took it into a batch; it can no longer be withdrawn
	canceled bool // the caller gave up before that; the writer skips it
}

// Metrics of group commit, registered with the default registry.
var (
	batchSize = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "phonefleet_sqlite_write_batch_size",
		Help:    "Write operations committed together in one SQLite transaction (group commit).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10), // 1 … 512
	})
	commitDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "phonefleet_sqlite_commit_duration_seconds",
		Help:    "Time of the COMMIT of one SQLite write transaction (writing its pages to the write-ahead log).",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 100µs … ~6s
	})
	syncDuration = promauto.NewHistogram(prometheus.HistogramOpts{
		Name:    "phonefleet_sqlite_wal_sync_duration_seconds",
		Help:    "Time of one fsync of the SQLite write-ahead log, which makes every batch committed before it durable.",
		Buckets: prometheus.ExponentialBuckets(0.0001, 2.5, 12), // 100µs … ~6s
	})
)

// writer is the queue of the goroutine that runs every write operation of
// a DB in group commits.
type writer struct {
	mu     sync.Mutex
	queue  []*writeOp
	closed bool

	wake   chan struct{} // capacity 1: "the queue may have grown"; closed by close
	exited chan struct{} // closed when both goroutines returned

	// committed takes each batch from the writer goroutine to the syncer,
	// which answers its callers once an fsync made it durable.
	committed chan *committedBatch
}

// committedBatch is a batch whose transaction ended: its callers wait for
// the fsync of the write-ahead log that makes it durable.
type committedBatch struct {
	ops  []*writeOp
	errs []error // each operation's own error
	err  error   // the batch's: nil if it committed
}

func newWriter() *writer {
	// Capacity 1: the writer runs at most one batch ahead of the fsync in
	// progress plus one waiting for the next.
	return &writer{wake: make(chan struct{}, 1), exited: make(chan struct{}), committed: make(chan *committedBatch, 1)}
}

// enqueue appends op and returns the queue length; errClosed once the
// writer is closing.
func (w *writer) enqueue(op *writeOp) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return 0, errClosed
	}
	w.queue = append(w.queue, op)
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is already pending
	}
	return len(w.queue), nil
}

// withdraw removes op unless the writer already took it, and reports
// whether it did.
func (w *writer) withdraw(op *writeOp) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if op.taken {
		return false
	}
	op.canceled = true
	return true
}

// take removes and returns up to n queued operations, oldest first,
// skipping withdrawn ones, whose work adds up to at most maxWork (the first
// operation is taken whatever its work). An operation that does not fit
// stays queued, ahead of the rest, for the next batch.
func (w *writer) take(n, maxWork int) []*writeOp {
	w.mu.Lock()
	defer w.mu.Unlock()
	var batch []*writeOp
	work := 0
	kept := w.queue[:0]
	for _, op := range w.queue {
		switch {
		case op.canceled:
			// dropped
		case len(batch) < n && (len(batch) == 0 || work+op.work <= maxWork):
			op.taken = true
			batch = append(batch, op)
			work += op.work
		default:
			kept = append(kept, op) // the next batch's, in order
		}
	}
	clear(w.queue[len(kept):])
	w.queue = kept
	return batch
}

// close stops new operations; the goroutine runs the queued ones and exits.
func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.closed = true
		close(w.wake)
	}
}

// write runs fn as one write operation and returns its error once the
// outcome is durable.
//
// With group commit, fn joins the queue of the writer goroutine. If ctx ends
// while fn is still queued, fn is withdrawn and ctx's error returned; once
// the writer has started it, fn runs to the end without ctx's cancellation
// (its values stay) and write waits for the commit, so an operation is never
// half-applied nor reported before it is durable.
//
// Without group commit, fn runs in a transaction of its own on the caller's
// goroutine, under ctx.
func (db *DB) write(ctx context.Context, fn opFunc) error {
	return db.writeWork(ctx, 1, fn)
}

// writeWork is write for an operation that writes about work rows; group
// commit bounds a batch by work (MaxBatchWork) as well as by count.
func (db *DB) writeWork(ctx context.Context, work int, fn opFunc) error {
	return db.writeWith(ctx, &writeOp{ctx: ctx, fn: fn, work: work})
}

// writeWith is writeWork for op (its ctx, fn and work set), which may say
// what the writer can run together with the rest of its batch (unsub,
// complete).
func (db *DB) writeWith(ctx context.Context, op *writeOp) error {
	if db.wdb == nil {
		return errNotOpen
	}
	if db.w == nil {
		return db.writeAlone(ctx, op.fn)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	op.work, op.done = max(op.work, 1), make(chan error, 1)
	n, err := db.w.enqueue(op)
	if err != nil {
		return err
	}
	if hook := db.testHookQueued; hook != nil {
		hook(n)
	}
	select {
	case err := <-op.done:
		return err
	case <-ctx.Done():
		if db.w.withdraw(op) {
			return ctx.Err()
		}
		return <-op.done
	}
}

// writeAlone runs fn in a transaction of its own.
func (db *DB) writeAlone(ctx context.Context, fn opFunc) (err error) {
	if err := db.checkFile(); err != nil {
		return err
	}
	defer func() { db.recordWrite(err) }()
	tx, err := db.beginTx(ctx, true)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := fn(ctx, tx); err != nil {
		return err
	}
	start := time.Now()
	if err := tx.sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	commitDuration.Observe(time.Since(start).Seconds())
	batchSize.Observe(1)
	// A commit into a file deleted meanwhile is lost: do not acknowledge it.
	if err := db.checkFile(); err != nil {
		return err
	}
	return db.syncWAL()
}

// runWriter is the writer goroutine: whenever operations are queued it
// takes as many as are waiting, up to MaxBatch and MaxBatchWork, and runs them in one
// transaction. It waits for nothing else, so a lone operation commits at
// once and batches grow only while a commit is in progress. After close it
// runs what is still queued and returns.
//
// The writer connection commits without an fsync (synchronous=NORMAL): each
// committed batch goes to the syncer goroutine (runSyncer), which fsyncs the
// write-ahead log and only then answers the batch's callers. So the writer
// runs the next batch while the disk makes the last one durable, and one
// fsync covers every batch committed while the previous fsync ran.
func (db *DB) runWriter(w *writer, maxBatch int) {
	synced := make(chan struct{})
	go db.runSyncer(w.committed, synced)
	defer func() {
		close(w.committed)
		<-synced
		close(w.exited)
	}()
	for {
		_, open := <-w.wake
		for {
			if hook := db.testHookBeforeBatch; hook != nil {
				hook()
			}
			batch := w.take(maxBatch, MaxBatchWork)
			if len(batch) == 0 {
				break
			}
			w.committed <- db.runBatch(batch)
		}
		if !open {
			return
		}
	}
}

// runBatch runs the operations in one transaction and returns the outcome:
// each operation's own error (it was rolled back to its savepoint) and the
// batch's error if the transaction could not be committed.
func (db *DB) runBatch(batch []*writeOp) *committedBatch {
	c := &committedBatch{ops: batch, errs: make([]error, len(batch))}
	c.err = db.checkFile()
	if c.err == nil {
		c.err = db.commitBatch(batch, c.errs)
	}
	return c
}

// runSyncer is the syncer goroutine: it takes every committed batch waiting,
// makes them durable with one fsync of the write-ahead log, and answers
// their callers: with the operation's own error, else the batch's, else
// the fsync's, else nil. It returns when in is closed and drained.
func (db *DB) runSyncer(in <-chan *committedBatch, done chan<- struct{}) {
	defer close(done)
	for c := range in {
		group := []*committedBatch{c}
	drain:
		for {
			select {
			case c, ok := <-in:
				if !ok {
					break drain
				}
				group = append(group, c)
			default:
				break drain
			}
		}
		var syncErr error
		for _, c := range group {
			if c.err == nil {
				// A commit into a file deleted meanwhile is lost: do not
				// acknowledge it.
				if syncErr = db.checkFile(); syncErr == nil {
					syncErr = db.syncWAL()
				}
				break
			}
		}
		for _, c := range group {
			if c.err == nil {
				c.err = syncErr
			}
			db.recordWrite(c.err)
			for i, op := range c.ops {
				db.recordWrite(c.errs[i])
				if c.errs[i] == nil {
					c.errs[i] = c.err
				}
				op.done <- c.errs[i]
			}
		}
	}
}

// syncWAL fsyncs the write-ahead log, making every transaction committed
// before the call durable (the log holds each commit's pages; SQLite
// fsyncs the log itself before a checkpoint copies them into the database
// file, and the file after). An fsync that fails leaves the log's state on
// disk unknown, while its transactions are already visible: like a lost
// file, it makes the store refuse writes until a restart.
func (db *DB) syncWAL() error {
	if hook := db.testHookSync; hook != nil {
		if err := hook(); err != nil {
			return db.failSync(err)
		}
	}
	start := time.Now()
	f, err := os.OpenFile(db.walPath, os.O_RDWR, 0)
	if err == nil {
		err = f.Sync()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return db.failSync(err)
	}
	syncDuration.Observe(time.Since(start).Seconds())
	if db.ck != nil {
		db.ck.notify()
	}
	return nil
}

// errGroupFailed is returned by a group of a batch (unsubscribeGroup,
// completeGroup) whose write failed: its transaction holds part of the
// group's writes and must be rolled back.
var errGroupFailed = errors.New("a group of the batch failed")

// runGroup runs the operations batch[idx] of a group (what: "unsubscribes",
// ...) with run, and marks them in settled. It runs nothing when fewer than
// two are left. If run fails or panics, it logs why and returns
// errGroupFailed.
func (db *DB) runGroup(what string, idx []int, settled []bool, run func() error) (err error) {
	if len(idx) < 2 {
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			db.log.Error(what+" of a batch panicked", "panic", r, "stack", string(debug.Stack()))
			err = errGroupFailed
		}
	}()
	if err := run(); err != nil {
		db.log.Warn(what+" of a batch run one by one", "operations", len(idx), "error", err)
		return errGroupFailed
	}
	for _, i := range idx {
		settled[i] = true
	}
	return nil
}

// commitBatch runs the batch in one BEGIN IMMEDIATE transaction, records
// each operation's error in errs, and commits. The batch's unsubscribes and
// command completions run first, each kind together (unsubscribeGroup,
// completeGroup); every other operation runs inside its own savepoint, with
// its own time. If a group fails, the transaction is rolled back and the
// batch runs again without groups, every operation in its own savepoint. An
// error of the transaction itself (begin, savepoint, commit) is returned:
// then nothing of the batch is written.
func (db *DB) commitBatch(batch []*writeOp, errs []error) error {
	err := db.commitBatchWith(batch, errs, !db.testNoGroup)
	if errors.Is(err, errGroupFailed) {
		for i, op := range batch {
			errs[i] = nil
			if op.unsub != nil {
				op.unsub.plan = nil
			}
		}
		err = db.commitBatchWith(batch, errs, false)
	}
	return err
}

// commitBatchWith is one attempt of commitBatch, with the groups or
// without.
func (db *DB) commitBatchWith(batch []*writeOp, errs []error, groups bool) error {
	ctx := context.Background()
	sqlTx, err := db.wdb.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer sqlTx.Rollback() // after a commit: a no-op
	// btx runs the savepoint statements, prepared like the operations'.
	btx := &Tx{sqlTx: sqlTx, db: db, stmts: db.wstmts}

	// Every operation of a batch waits for the same commit, so any order
	// of them is one the callers could have seen.
	grouped := make([]bool, len(batch))
	if groups {
		if err := db.unsubscribeGroup(ctx, btx, batch, errs, grouped); err != nil {
			return err
		}
		if err := db.completeGroup(ctx, btx, batch, errs, grouped); err != nil {
			return err
		}
	}
	for i, op := range batch {
		if grouped[i] {
			continue
		}
		if _, err := btx.ExecContext(ctx, `SAVEPOINT op`); err != nil {
			return fmt.Errorf("savepoint: %w", err)
		}
		// The operation's own time, on its tenant's clock.
		tx, err := db.newTx(db.onTenantClock(ctx, clockTenant(op.ctx)), sqlTx, db.wstmts)
		if err == nil {
			errs[i] = db.runOp(op, tx)
		} else {
			errs[i] = err
		}
		if errs[i] != nil {
			// If SQLite already rolled the whole transaction back (a
			// full disk, RAISE(ROLLBACK)), the savepoint is gone too
			// and the batch fails here.
			if _, err := btx.ExecContext(ctx, `ROLLBACK TO op`); err != nil {
				return fmt.Errorf("roll back operation: %w", err)
			}
		}
		if _, err := btx.ExecContext(ctx, `RELEASE op`); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
	}
	if hook := db.testHookCommit; hook != nil {
		if err := hook(len(batch)); err != nil {
			return err
		}
	}
	start := time.Now()
	if err := sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	commitDuration.Observe(time.Since(start).Seconds())
	batchSize.Observe(float64(len(batch)))
	if hook := db.testHookGroup; hook != nil {
		n := 0
		for _, g := range grouped {
			if g {
				n++
			}
		}
		hook(n)
	}
	return nil
}

// runOp runs one operation without its context's cancellation. A panic
// fails the operation, not the process: it would have failed only its own
// request before group commit.
func (db *DB) runOp(op *writeOp, tx *Tx) (err error) {
	defer func() {
		if r := recover(); r != nil {
			db.log.Error("write operation panicked", "panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("write operation panicked: %v", r)
		}
	}()
	return op.fn(context.WithoutCancel(op.ctx), tx)
}
