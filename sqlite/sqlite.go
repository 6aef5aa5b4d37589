// Package sqlite implements phonefleet.Store on an embedded SQLite file
// (modernc.org/sqlite, pure Go) in WAL mode.
//
// A DB holds two connection pools on the same file: a write pool of one
// connection whose transactions start with BEGIN IMMEDIATE, so writers queue
// in Go instead of failing with SQLITE_BUSY, and a read pool whose
// transactions read a WAL snapshot and never wait for the writer. Other
// processes (the CLI next to a running server) may use the file at the same
// time; the busy timeout makes them take turns.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// BusyTimeout is how long a connection waits for another one (in this or
// another process) to release the database lock before it gives up.
const BusyTimeout = 5 * time.Second

// maxIDCollisionRetries bounds how often Purchase starts over after a random
// instance or order ID collided with an existing one.
const maxIDCollisionRetries = 3

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

	// Logger receives the store's own logs (failed audit writes).
	Logger *slog.Logger

	// newInstanceID makes instance IDs; tests replace it to force collisions.
	newInstanceID func() string
}

// NewDB returns a DB for the file at path. It does not touch the file until Open.
func NewDB(path string) *DB {
	return &DB{
		Path:          path,
		Now:           time.Now,
		Logger:        slog.Default().With("system", "sqlite"),
		newInstanceID: phonefleet.NewInstanceID,
	}
}

// dsn returns the driver DSN for the file with the pragmas every connection
// of a pool must run. journal_mode is persistent in the file; the others are
// per connection.
func (db *DB) dsn(write bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", BusyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(FULL)")
	if write {
		q.Add("_pragma", "journal_mode(WAL)")
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	return db.Path + "?" + q.Encode()
}

// Open opens both pools, switches the file to WAL and applies the pending
// migrations. A new database also gets the default catalogue.
func (db *DB) Open() (err error) {
	if db.Path == "" {
		return fmt.Errorf("sqlite: database path required")
	} else if strings.ContainsAny(db.Path, "?#") || strings.HasPrefix(db.Path, "file:") || strings.Contains(db.Path, ":memory:") {
		return fmt.Errorf("sqlite: database path %q must be a plain file path", db.Path)
	}
	if db.Now == nil {
		db.Now = time.Now
	}
	if db.Logger == nil {
		db.Logger = slog.New(slog.DiscardHandler)
	}
	if db.newInstanceID == nil {
		db.newInstanceID = phonefleet.NewInstanceID
	}
	ctx := context.Background()
	defer func() {
		if err != nil {
			db.Close()
		}
	}()

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

	if db.rdb, err = sql.Open("sqlite", db.dsn(false)); err != nil {
		return fmt.Errorf("open read pool: %w", err)
	}
	n := max(4, runtime.NumCPU())
	db.rdb.SetMaxOpenConns(n)
	db.rdb.SetMaxIdleConns(n)
	if err := db.rdb.PingContext(ctx); err != nil {
		return fmt.Errorf("open %s for reading: %w", db.Path, err)
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
			if err := createSKU(ctx, tx, s); err != nil {
				return fmt.Errorf("insert default sku %s: %w", s.ID, err)
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO migrations (name, applied_at) VALUES (?, ?)`, name, formatTime(tx.now)); err != nil {
		return err
	}
	return tx.Commit()
}

// Close closes both pools.
func (db *DB) Close() error {
	var errs []error
	if db.rdb != nil {
		errs = append(errs, db.rdb.Close())
	}
	if db.wdb != nil {
		errs = append(errs, db.wdb.Close())
	}
	return errors.Join(errs...)
}

// Ping reports whether both pools reach the database.
func (db *DB) Ping(ctx context.Context) error {
	if db.wdb == nil || db.rdb == nil {
		return errNotOpen
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
type Tx struct {
	*sql.Tx
	db  *DB
	now time.Time
}

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
	return &Tx{Tx: tx, db: db, now: db.Now().UTC()}, nil
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

// placeholders returns "?, ?, ?" for n arguments.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// formatError turns a UNIQUE or PRIMARY KEY violation into an EConflict error
// naming the columns; other errors pass through unchanged.
func formatError(err error) error {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return err
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		cols := e.Error()
		if i := strings.Index(cols, "constraint failed: "); i >= 0 {
			cols = cols[i+len("constraint failed: "):]
		}
		cols = strings.TrimSuffix(cols, ")")
		return phonefleet.Errorf(phonefleet.EConflict, "duplicate %s", cols)
	}
	return err
}

// isConflict reports whether err is an EConflict application error.
func isConflict(err error) bool { return phonefleet.ErrorCode(err) == phonefleet.EConflict }
