// Package sqlite implements phonefleet.Store on an embedded SQLite file
// (modernc.org/sqlite, pure Go) in WAL mode.
//
// A DB holds two connection pools on the same file: a write pool of one
// connection whose transactions start with BEGIN IMMEDIATE, so writers queue
// in Go instead of failing with SQLITE_BUSY, and a read pool whose
// transactions read a WAL snapshot and never wait for the writer. Other
// processes (the CLI next to a running server) may use the file at the same
// time; the busy timeout makes them take turns.
//
// # Group commit
//
// Every write operation (a purchase attempt, an unsubscribe, a failure's
// audit event, a job claim, ...) is a function that runs inside a
// transaction and never commits. With GroupCommit (the default) the
// operations go to one writer goroutine, which takes whatever is queued when
// it becomes free, up to MaxBatch, and runs it in one BEGIN IMMEDIATE
// transaction: each operation inside its own SAVEPOINT with its own time, so
// one operation's error rolls back only that operation. It commits once and
// only then answers every caller; if the commit fails, every operation of
// the batch fails and nothing of it is written. There is no timer: a lone
// operation commits at once, and batches form only from what arrives while
// the previous commit is in progress. A caller whose context ends while its
// operation is still queued gets the context's error and the operation never
// runs; once started, an operation completes or rolls back with its batch.
//
// Unsubscribes are the exception: the writer runs those of a batch together,
// with one read of every instance they name, each request planned in Go and
// one statement per table for what the successful ones decided; a request
// whose plan fails writes nothing (unsubscribe_batch.go). The release
// worker's command completions run together the same way
// (complete_batch.go). The groups run first in the transaction and in no
// savepoint, which would copy every page they change into a journal in
// memory; a failing write rolls the whole transaction back, and the batch
// runs again with one savepoint per operation. Statements are prepared once
// per connection and reused (stmt.go).
//
// # Durability
//
// The writer's connection commits without waiting for the disk
// (synchronous=NORMAL) and hands the batch to a syncer goroutine, which
// fsyncs the write-ahead log and only then answers the batch's callers. One
// fsync covers every batch committed while the previous one ran, and the
// writer runs the next batch meanwhile. So an answered write is durable as
// with synchronous=FULL; a read may see a committed batch a moment before
// its fsync ends (a power cut then loses it, together with its callers'
// answers, none of which was sent). A failed fsync makes the store refuse
// writes until restart. Checkpoints, which copy the log into the database
// file, run on a connection of their own (checkpoint.go), never in the
// writer's COMMIT.
//
// On the 2-core test machine, BenchmarkUnsubscribeParallel (64 goroutines,
// 10-instance unsubscribes) runs about 2.1 times as many unsubscribes per
// second with group commit as with one transaction per operation; the
// single writer is then bound by SQLite's CPU time, not by fsync. A lone
// operation costs the same either way. GroupCommit false runs each
// operation in a transaction of its own on the caller's goroutine, and
// fsyncs the log before it returns.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/phonefleet/phonefleet"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// WriterCacheKiB is the page cache of the writer connection, in KiB (the
// read connections keep SQLite's default, 2 MB each).
const WriterCacheKiB = 8000

// BusyTimeout is how long a connection waits for another one (in this or
// another process) to release the database lock before it gives up.
const BusyTimeout = 5 * time.Second

//go:embed migration/*.sql
var migrationFS embed.FS

var _ phonefleet.Store = (*DB)(nil)

// DB is the SQLite store. Create it with NewDB, set the fields, then Open.
type DB struct {
	wdb *sql.DB // write pool: one connection, BEGIN IMMEDIATE
	rdb *sql.DB // read pool: query_only connections

	// Path is the database file; Open creates it if missing.
	Path string

	// Now returns the current time; every transaction reads it once.
	// Tests replace it to control the clock.
	Now func() time.Time

	// TestClock makes each tenant's business time the process's time plus
	// the tenant's offset stored in the database (see
	// phonefleet.ClockService). Off, the offsets are ignored.
	TestClock bool
	migrated  bool // the schema is current: the test clocks' table exists

	// Logger receives the store's own logs (failed audit writes), with
	// system=sqlite; nil means slog.Default().
	Logger *slog.Logger
	log    *slog.Logger // Logger with the system attribute, set by Open

	// GroupCommit makes concurrent write operations share transactions
	// (see the package documentation). NewDB sets it; false runs each
	// operation in a transaction of its own on the caller's goroutine.
	GroupCommit bool

	// MaxBatch bounds the operations of one group commit; 0 means
	// DefaultMaxBatch.
	MaxBatch int

	// WALRestartPages is the size of the write-ahead log, in pages, at
	// which the writer checkpoints it and starts it over (see
	// checkpointer); 0 means DefaultWALRestartPages.
	WALRestartPages int

	// MinFreeBytes is the free disk space next to the file below which
	// Ping reports the store not ready; 0 means DefaultMinFreeBytes, a
	// negative value disables the check.
	MinFreeBytes int64

	w *writer // the group commit writer; nil without group commit

	// ckdb is the checkpointer's pool (one connection) and ck the
	// checkpointer (checkpoint.go).
	ckdb *sql.DB
	ck   *checkpointer

	// Statements prepared once per connection of each pool (stmt.go).
	wstmts, rstmts *stmtCache

	health health // see health.go

	// signaturesSwept is the wall time (unix nanoseconds) after which
	// RememberSignature deletes expired signatures again (signature.go).
	signaturesSwept atomic.Int64

	// lockf holds a shared lock on LockPath(Path) while the DB is open,
	// so that phonefleet restore refuses to replace it (backup.go).
	lockf *os.File

	// walPath is the write-ahead log of the file Path leads to: SQLite
	// names it after the file, symbolic links followed.
	walPath string

	// newInstanceID makes instance IDs; tests replace it to force collisions.
	newInstanceID func() string

	// Test hooks of the writer: testHookQueued gets the queue length after
	// each enqueue, testHookBeforeBatch runs before the writer takes a
	// batch, and testHookCommit gets the batch size before the commit; its
	// error fails the batch as a failed commit would.
	testHookQueued      func(n int)
	testNoStmtCache     bool              // parse every statement anew, as a benchmark's baseline
	testHookGroup       func(settled int) // operations a committed batch ran together (unsubscribes, completions)
	testNoGroup         bool              // run every unsubscribe on its own, as a benchmark's baseline
	testHookBeforeBatch func()
	testHookCommit      func(n int) error
	testHookSync        func() error // runs before each fsync of the log; its error fails the fsync
	testHookCheckpoint  func(logPages, done int)
}

// NewDB returns a DB for the file at path. It does not touch the file until Open.
func NewDB(path string) *DB {
	return &DB{
		Path:          path,
		Now:           time.Now,
		Logger:        slog.Default(),
		GroupCommit:   true,
		MaxBatch:      DefaultMaxBatch,
		newInstanceID: phonefleet.NewInstanceID,
	}
}

// dsn returns the driver DSN for the file with the pragmas every connection
// of a pool must run. journal_mode is persistent in the file; the others are
// per connection. temp_store(MEMORY) keeps the sub-journals of the
// savepoints of group commit in memory instead of temporary files (it took
// a sixth of the writer's time in pwrite calls).
func (db *DB) dsn(write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "temp_store(MEMORY)")
	if write {
		// The writer fsyncs the log itself after each commit, off the
		// writer goroutine (syncWAL), before any caller hears.
		q.Add("_pragma", "synchronous(NORMAL)")
		// The checkpointer copies most of the log into the file; the
		// writer finishes it and starts it over (checkpoint.go).
		q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", db.WALRestartPages))
		// Past a few hundred thousand instances the indexes an unsubscribe
		// touches outgrow SQLite's default 2 MB page cache, and each miss
		// is a pread: 16 MB took a quarter off the writer's CPU per
		// instance at 150,000 instances (BenchmarkWriter, 1,500x), but
		// added about 30 MB to the process's RSS; 8 MB is the middle.
		q.Add("_pragma", fmt.Sprintf("cache_size(%d)", -WriterCacheKiB))
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "synchronous(FULL)")
		q.Add("_pragma", "query_only(1)")
	}
	return db.Path + "?" + q.Encode()
}

// Open opens both pools, switches the file to WAL and applies the pending
// migrations. A new database also gets the default catalogue.
func (db *DB) Open() (err error) {
	if err := checkPath(db.Path); err != nil {
		return err
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	if db.WALRestartPages <= 0 {
		db.WALRestartPages = DefaultWALRestartPages
	}
	if db.Logger == nil {
		db.Logger = slog.Default()
	}
	db.log = db.Logger.With("system", "sqlite")
	if db.newInstanceID == nil {
		db.newInstanceID = phonefleet.NewInstanceID
	}
	ctx := context.Background()
	defer func() {
		if err != nil {
			db.Close()
		}
	}()
	db.walPath = ResolvePath(db.Path) + "-wal"
	if db.lockf, err = lockFile(LockPath(db.Path), false); errors.Is(err, ErrInUse) {
		return fmt.Errorf("%s is being restored (phonefleet restore holds %s): %w", db.Path, LockPath(db.Path), err)
	} else if err != nil {
		return err
	}

	if db.wdb, err = sql.Open("sqlite", db.dsn(true)); err != nil {
		return fmt.Errorf("open write pool: %w", err)
	}
	db.wdb.SetMaxOpenConns(1)
	db.wdb.SetMaxIdleConns(1)
	db.wdb.SetConnMaxIdleTime(0)
	db.wdb.SetConnMaxLifetime(0)

	// The first write connection switches the file to WAL before any reader
	// opens it, and migrating creates the file's schema.
	if err := db.wdb.PingContext(ctx); err != nil {
		return fmt.Errorf("open %s: %w", db.Path, err)
	}
	if err := db.migrate(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := db.syncWAL(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	db.migrated = true
	if err := db.recordOpen(); err != nil {
		return err
	}

	if db.rdb, err = sql.Open("sqlite", db.dsn(false)); err != nil {
		return fmt.Errorf("open read pool: %w", err)
	}
	n := max(4, runtime.NumCPU())
	db.rdb.SetMaxOpenConns(n)
	db.rdb.SetMaxIdleConns(n)
	if err := db.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("open %s for reading: %w", db.Path, err)
	}
	// The checkpointer needs no page cache of its own: a checkpoint copies
	// the log's frames through a buffer.
	if db.ckdb, err = sql.Open("sqlite", db.dsn(false)+"&_pragma=cache_size%28-256%29"); err != nil {
		return fmt.Errorf("open checkpoint pool: %w", err)
	}
	db.ckdb.SetMaxOpenConns(1)
	db.ckdb.SetMaxIdleConns(1)
	db.ckdb.SetConnMaxIdleTime(0)
	db.ckdb.SetConnMaxLifetime(0)
	db.ck = newCheckpointer(db.ckdb, db.log.Warn, db.testHookCheckpoint)

	// After the migrations: they run as text, several statements each.
	if !db.testNoStmtCache {
		db.wstmts, db.rstmts = newStmtCache(db.wdb), newStmtCache(db.rdb)
	}

	if db.GroupCommit {
		if db.MaxBatch <= 0 {
			db.MaxBatch = DefaultMaxBatch
		}
		db.w = newWriter()
		go db.runWriter(db.w, db.MaxBatch)
	}
	return nil
}

// migrate applies the embedded migrations in name order, each in its own
// transaction that also records its name. The check runs inside the
// transaction, so two processes opening a new file at once apply each
// migration once. The default catalogue goes in with the first migration.
func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL);`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for i, name := range names {
		if err := db.migrateFile(ctx, name, i == 0); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	// A newer version ran here: this one keeps working only if what it
	// added leaves older code correct (docs/operations.md, upgrades).
	if applied, err := readMigrations(ctx, db.wdb); err == nil {
		if unknown := phonefleet.UnknownMigrations(phonefleet.PlanMigrationStatus(names, applied)); len(unknown) > 0 {
			db.log.Warn("the database has migrations this binary does not know: a newer version ran on it", "unknown_migrations", unknown)
		}
	}
	return nil
}

// migrateFile applies one migration unless it already ran; first says it is
// the migration that creates the schema, after which the default catalogue
// is inserted in the same transaction.
func (db *DB) migrateFile(ctx context.Context, name string, first bool) error {
	tx, err := db.beginTx(ctx, true)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	} else if n != 0 {
		return nil // already applied
	}

	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(buf)); err != nil {
		return err
	}
	if first {
		for _, s := range phonefleet.DefaultSKUs() {
			if err := insertSKU(ctx, tx, s); err != nil {
				return fmt.Errorf("insert default sku %s: %w", s.ID, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, name, formatTime(tx.now)); err != nil {
		return err
	}
	return tx.sqlTx.Commit()
}

// Close waits for the write operations already queued, then closes both
// pools. Write operations after Close fail.
func (db *DB) Close() error {
	if db.w != nil {
		db.w.close()
		<-db.w.exited
	}
	for _, c := range []*stmtCache{db.wstmts, db.rstmts} {
		if c != nil {
			c.close()
		}
	}
	if db.ck != nil {
		db.ck.close()
	}
	var errs []error
	if db.ckdb != nil {
		errs = append(errs, db.ckdb.Close())
	}
	if db.rdb != nil {
		errs = append(errs, db.rdb.Close())
	}
	if db.wdb != nil {
		errs = append(errs, db.wdb.Close())
	}
	if db.lockf != nil {
		errs = append(errs, db.lockf.Close())
		db.lockf = nil
	}
	return errors.Join(errs...)
}

// Ping reports whether the store can serve writes: both pools reach the
// database, the file at Path is still the one opened, no write failed for
// lack of disk in the last minute, and the disk has MinFreeBytes free.
// /readyz answers with it.
func (db *DB) Ping(ctx context.Context) error {
	if db.wdb == nil || db.rdb == nil {
		return errNotOpen
	}
	if err := db.checkHealth(); err != nil {
		return err
	}
	if err := db.wdb.PingContext(ctx); err != nil {
		return fmt.Errorf("ping write pool: %w", err)
	}
	if err := db.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("ping read pool: %w", err)
	}
	return nil
}

// errNotOpen is returned by operations on a DB that Open has not opened.
var errNotOpen = errors.New("sqlite: database not open")

// Tx is a transaction of one store operation; now is the operation's time.
// With group commit, several operations share one *sql.Tx, each with its
// own Tx. It offers the statements and Rollback (for reads) but no Commit:
// write operations never commit themselves, the writer does (db.write), so
// an operation that tries does not compile.
type Tx struct {
	sqlTx *sql.Tx
	db    *DB
	// now is business time: wall plus the test clock's offset of the
	// operation's tenant (onTenantClock) when the test clock is on.
	// Purchases, refunds and audit events use it.
	now time.Time
	// wall is the process's time. Security and delivery timing (token
	// revocation, command schedules and leases) use it.
	wall  time.Time
	stmts *stmtCache // nil: every statement is parsed anew (migrations)
}

// newTx wraps a transaction of one operation with its times (business time
// is the tenant's that ctx names, see onTenantClock) and the statement
// cache of its pool.
func (db *DB) newTx(ctx context.Context, sqlTx *sql.Tx, stmts *stmtCache) (*Tx, error) {
	tx := &Tx{sqlTx: sqlTx, db: db, wall: db.Now().UTC(), stmts: stmts}
	now, err := db.tenantNow(ctx, tx, clockTenant(ctx))
	if err != nil {
		return nil, err
	}
	tx.now = now
	return tx, nil
}

// Rollback ends the transaction without writing anything.
func (tx *Tx) Rollback() error { return tx.sqlTx.Rollback() }

// beginTx starts a write transaction (BEGIN IMMEDIATE on the single writer
// connection) or a read transaction on the read pool.
func (db *DB) beginTx(ctx context.Context, write bool) (*Tx, error) {
	pool := db.rdb
	if write {
		pool = db.wdb
	}
	if pool == nil {
		return nil, errNotOpen
	}
	tx, err := pool.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	stmts := db.rstmts
	if write {
		stmts = db.wstmts
	}
	t, err := db.newTx(ctx, tx, stmts)
	if err != nil {
		tx.Rollback()
		return nil, err
	}
	return t, nil
}

// timeFormat writes UTC times with fixed-width nanoseconds so that comparing
// the text compares the times.
const timeFormat = "2006-01-02T15:04:05.000000000Z"

// formatTime returns t as stored.
func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// formatNullTime returns t as stored, or NULL for nil.
func formatNullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return formatTime(*t)
}

// parseTime parses a stored time.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// parseNullTime parses a nullable stored time.
func parseNullTime(s sql.NullString) (*time.Time, error) {
	if !s.Valid {
		return nil, nil
	}
	t, err := parseTime(s.String)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// nullString stores "" as NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// jsonArray returns ss as a JSON array, the one argument of a list of
// values in SQL: "x IN (SELECT value FROM json_each(?))" is one statement
// text whatever the list's length, prepared once.
func jsonArray(ss []string) string {
	if ss == nil {
		ss = []string{}
	}
	buf, _ := json.Marshal(ss)
	return string(buf)
}

// formatError turns a constraint violation into the application error both
// stores return for it: a UNIQUE or PRIMARY KEY violation is EConflict, a
// FOREIGN KEY violation ENotFound. Callers replace the message with one
// that names the row. Other errors pass through unchanged.
func formatError(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return phonefleet.Errorf(phonefleet.EConflict, "duplicate %s", uniqueColumns(e))
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return phonefleet.Errorf(phonefleet.ENotFound, "a referenced row does not exist")
	}
	return err
}

// isConflict reports whether err is an EConflict application error.
func isConflict(err error) bool { return phonefleet.ErrorCode(err) == phonefleet.EConflict }

// isNotFound reports whether err is an ENotFound application error.
func isNotFound(err error) bool { return phonefleet.ErrorCode(err) == phonefleet.ENotFound }

// isIDCollision reports whether err is a violation of the primary key of
// orders or instances: a new random ID that was taken.
func isIDCollision(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		switch uniqueColumns(e) {
		case "orders.id", "instances.id", "instances.tenant_id, instances.id":
			return true
		}
	}
	return false
}

// uniqueColumns returns the columns a UNIQUE or PRIMARY KEY violation names,
// such as "tenants.name", from "UNIQUE constraint failed: tenants.name (2067)".
func uniqueColumns(e *sqlite.Error) string {
	cols := e.Error()
	if i := strings.LastIndex(cols, "constraint failed: "); i >= 0 {
		cols = cols[i+len("constraint failed: "):]
	}
	if i := strings.LastIndex(cols, " ("); i >= 0 {
		cols = cols[:i]
	}
	return cols
}
