// Package postgres implements phonefleet.Store on PostgreSQL with pgx. It is
// the store for running many identical phonefleet nodes on one database:
// every invariant is kept by row locks taken in a fixed order, unique keys
// and bounded retries, never by a node's memory.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/phonefleet/phonefleet"
)

//go:embed migration/*.sql
var migrationFS embed.FS

// Defaults of the DB's settings.
const (
	DefaultMaxConns         = 16
	DefaultStatementTimeout = 5 * time.Second
	DefaultConnectTimeout   = 3 * time.Second
	DefaultMaxConnIdleTime  = 30 * time.Second
)

// MaxAttempts is how many times an operation runs when PostgreSQL aborts it
// with a serialization failure or a deadlock (or, for a purchase, an ID
// collision) before the error is returned: the
// phonefleet.MaxIDCollisionAttempts that both stores apply to collisions.
const MaxAttempts = phonefleet.MaxIDCollisionAttempts

// migrationLockKey is the pg_advisory_lock key that serialises migrations
// of nodes starting at the same time ("phonefleet" in ASCII, truncated).
const migrationLockKey int64 = 0x70686f6e65666c

// SQLSTATE codes the store reacts to.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
)

var _ phonefleet.Store = (*DB)(nil)

// DB is the PostgreSQL store: a bounded connection pool plus the settings
// that bound how long any request can wait on the database.
type DB struct {
	pool       *pgxpool.Pool
	connConfig *pgx.ConnConfig // of every connection, for those outside the pool

	health     chan struct{} // one slot: holds healthConn
	healthConn *pgx.Conn     // reserved for Ping

	tooManyLogged atomic.Int64 // unix nanoseconds of the last "too many clients" log
	clockOffset   atomic.Int64 // the server's clock minus ours, in nanoseconds
	// signaturesSwept is the time (unix nanoseconds) after which
	// RememberSignature deletes expired signatures again (signature.go).
	signaturesSwept atomic.Int64

	shares tenantShares // each tenant's share of the pool

	unsubscribes coalescer // unsubscribes waiting for a shared transaction

	testNoCoalesce bool                                            // every unsubscribe runs alone, as a benchmark's baseline
	testHookQueued func(queued int)                                // an unsubscribe joined the coalescer's queue
	testHookTake   func()                                          // a runner is about to take a group
	testHookGroup  func(settled int)                               // a shared transaction committed
	testHookLocked func()                                          // a transaction locked and read its instances (unsubscribe, assign, unassign, commands)
	testHookFound  func(ctx context.Context, tx pgx.Tx, done bool) // lockInstances begins (done false) and has read its rows (true)
	testRunners    int                                             // replaces maxRunners when set

	late       chan lateAudit // failure audit events to write later
	lateCancel context.CancelFunc
	lateDone   chan struct{}

	// URL is the postgres:// connection string.
	URL string

	// Now, when set, replaces the database's clock for business time
	// (tests). By default (nil) every transaction's time is PostgreSQL's
	// transaction time, so all nodes agree whatever their own clocks say.
	Now func() time.Time

	// TestClock makes each tenant's business time the transaction's time
	// plus the tenant's offset stored in the database (see
	// phonefleet.ClockService), the same on every node. Off, the offsets
	// are ignored.
	TestClock bool

	// ReportLimits logs, when Open connects, how this node's pool fits in
	// the server's connection slots, and warns when it connects as a
	// superuser. serve sets it; operator commands leave it off, so they do
	// not repeat those lines on every call.
	ReportLimits bool

	// Logger receives the store's own logs (migrations, retries, failed
	// audit writes), with system=postgres; nil means slog.Default().
	Logger *slog.Logger
	log    *slog.Logger // Logger with the system attribute, set by Open

	// MaxConns bounds the pool. Default 16.
	MaxConns int32

	// StatementTimeout bounds each statement on the server (the connection's
	// statement_timeout, which includes lock waits). Default 5s.
	StatementTimeout time.Duration

	// ConnectTimeout bounds establishing one connection. Default 3s.
	ConnectTimeout time.Duration

	// MaxConnIdleTime closes pooled connections idle for longer, so a
	// burst's connections do not keep the server's slots. Default 30s.
	MaxConnIdleTime time.Duration

	// StartupTimeout is how long Open keeps retrying, with backoff, a server
	// that cannot be reached yet. Default 0: one attempt.
	StartupTimeout time.Duration
}

// NewDB returns a DB for url with default settings. Call Open before use.
func NewDB(url string) *DB {
	return &DB{
		URL:              url,
		Logger:           slog.Default(),
		MaxConns:         DefaultMaxConns,
		StatementTimeout: DefaultStatementTimeout,
		ConnectTimeout:   DefaultConnectTimeout,
		MaxConnIdleTime:  DefaultMaxConnIdleTime,
	}
}

// Open creates the connection pool and applies the embedded migrations under
// a PostgreSQL advisory lock, so many nodes may start at once.
func (db *DB) Open() error {
	if db.URL == "" {
		return fmt.Errorf("postgres url required")
	}
	if db.Logger == nil {
		db.Logger = slog.Default()
	}
	db.log = db.Logger.With("system", "postgres")
	if db.MaxConns <= 0 {
		db.MaxConns = DefaultMaxConns
	}
	if db.StatementTimeout <= 0 {
		db.StatementTimeout = DefaultStatementTimeout
	}
	if db.ConnectTimeout <= 0 {
		db.ConnectTimeout = DefaultConnectTimeout
	}
	if db.MaxConnIdleTime <= 0 {
		db.MaxConnIdleTime = DefaultMaxConnIdleTime
	}
	db.health = make(chan struct{}, 1)

	config, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		return fmt.Errorf("parse postgres url: %w", err)
	}
	config.MaxConns = db.MaxConns
	config.MinConns = 0
	config.HealthCheckPeriod = min(10*time.Second, db.MaxConnIdleTime/2)
	config.MaxConnIdleTime = db.MaxConnIdleTime
	config.PingTimeout = db.ConnectTimeout
	config.ShouldPing = shouldPing
	config.ConnConfig.ConnectTimeout = db.ConnectTimeout
	params := config.ConnConfig.RuntimeParams
	params["statement_timeout"] = fmt.Sprint(db.StatementTimeout.Milliseconds())
	// A node that dies or stalls inside a transaction must not hold row
	// locks for longer than a few statements would.
	params["idle_in_transaction_session_timeout"] = fmt.Sprint(2 * db.StatementTimeout.Milliseconds())
	params["timezone"] = "UTC"
	if params["application_name"] == "" {
		params["application_name"] = "phonefleet"
	}
	config.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		registerUTC(conn.TypeMap())
		return nil
	}
	// Dials, a cancel request's included, give up after the connect timeout.
	dialer := &net.Dialer{Timeout: db.ConnectTimeout, KeepAlive: 5 * time.Minute}
	config.ConnConfig.DialFunc = dialer.DialContext
	db.connConfig = config.ConnConfig.Copy()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := db.migrate(ctx, config.ConnConfig); err != nil {
		return err
	}
	if db.pool, err = pgxpool.NewWithConfig(context.Background(), config); err != nil {
		return fmt.Errorf("create pool: %w", err)
	}
	db.late, db.lateDone = make(chan lateAudit, lateQueueSize), make(chan struct{})
	var lateCtx context.Context
	lateCtx, db.lateCancel = context.WithCancel(context.Background())
	go db.writeLate(lateCtx)
	return nil
}

// Close stops the writer of deferred failure audit events, closes the
// pool, waiting for connections in use to be returned, and closes the
// health connection.
//
// It waits at most ConnectTimeout for the pool's connections to close: one
// whose statement timed out on a server that stopped answering is closed
// by pgx after a cancel request that may wait 15 s for that server.
func (db *DB) Close() error {
	if db.pool != nil {
		db.lateCancel()
		<-db.lateDone
		closed := make(chan struct{})
		go func() {
			db.pool.Close()
			close(closed)
		}()
		select {
		case <-closed:
		case <-time.After(db.ConnectTimeout):
			db.log.Warn("stopped waiting for connections to close: the database server does not answer")
		}
		db.closeHealth()
	}
	return nil
}

// errNotOpen is returned by operations on a DB that Open has not opened.
var errNotOpen = errors.New("postgres: database not open")

// Stat returns the pool's statistics, for metrics; nil before Open.
func (db *DB) Stat() *pgxpool.Stat {
	if db.pool == nil {
		return nil
	}
	return db.pool.Stat()
}

// registerUTC makes timestamptz values scan as UTC times.
func registerUTC(m *pgtype.Map) {
	m.RegisterType(&pgtype.Type{
		Name: "timestamptz", OID: pgtype.TimestamptzOID,
		Codec: &pgtype.TimestamptzCodec{ScanLocation: time.UTC},
	})
}

// migrate applies the embedded migrations that the database lacks, in name
// order, each in its own transaction, on one dedicated connection that holds
// the advisory lock (closing it releases the lock, also on error).
func (db *DB) migrate(ctx context.Context, cc *pgx.ConnConfig) error {
	cc = cc.Copy()
	// Waiting for another node's migration and building indexes may take
	// longer than a request's statement timeout.
	cc.RuntimeParams["statement_timeout"] = "0"
	conn, err := db.connectWithRetry(cc)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	registerUTC(conn.TypeMap())
	if db.ReportLimits {
		db.checkServerLimits(ctx, conn)
	}
	db.measureClock(ctx, conn)

	if _, err := conn.Exec(ctx, `SELECT pg_advisory_lock($1)`, migrationLockKey); err != nil {
		return fmt.Errorf("migration lock: %w", err)
	}
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}

	names, err := fs.Glob(migrationFS, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.migrateFile(ctx, conn, name); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	db.warnUnknownMigrations(ctx, conn, names)
	return nil
}

// migrateFile applies one migration unless it is recorded already. The first
// one also stocks the default catalogue of a new database.
func (db *DB) migrateFile(ctx context.Context, conn *pgx.Conn, name string) error {
	tx, err := conn.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(context.Background())

	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM migrations WHERE name = $1`, name).Scan(&n); err != nil {
		return err
	} else if n > 0 {
		return nil
	}
	buf, err := fs.ReadFile(migrationFS, name)
	if err != nil {
		return err
	}
	// No arguments: pgx sends it as one simple query, so a file may hold
	// many statements.
	if _, err := tx.Exec(ctx, string(buf)); err != nil {
		return err
	}
	if name == "migration/0001_init.sql" {
		for _, s := range phonefleet.DefaultSKUs() {
			if err := insertSKU(ctx, tx, s); err != nil {
				return fmt.Errorf("default sku %s: %w", s.ID, err)
			}
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO migrations (name) VALUES ($1)`, name); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	db.log.Info("migration applied", "name", name)
	return nil
}

// txNow is the one place the store reads business time, in UTC at the
// microsecond precision PostgreSQL keeps: Now when a test set it, else the
// transaction's time on the database server, which every node shares.
// businessNow is the transaction's business time: its time, plus the test
// clock offset of the tenant ctx names (onTenantClock) when the test clock
// is on. The offset comes with the transaction's time, in one query.
func (db *DB) businessNow(ctx context.Context, tx pgx.Tx) (time.Time, error) {
	tenant := clockTenant(ctx)
	if !db.TestClock || tenant == "" {
		return db.txNow(ctx, tx)
	}
	if db.Now != nil {
		off, err := tenantOffset(ctx, tx, tenant)
		if err != nil {
			return time.Time{}, err
		}
		return off.AddTo(db.Now().UTC().Truncate(time.Microsecond)), nil
	}
	var now time.Time
	var s, ns *int64
	if err := tx.QueryRow(ctx, txTimeTenantSQL, tenant).Scan(&now, &s, &ns); err != nil {
		return time.Time{}, fmt.Errorf("transaction time: %w", err)
	}
	db.noteTxTime(now)
	var off phonefleet.ClockSpan
	if s != nil && ns != nil {
		off = phonefleet.ClockSpan{Seconds: *s, Nanos: *ns}
	}
	return off.AddTo(now.UTC()), nil
}

// wallNow is the time for security and delivery timing (token revocation,
// command schedules and leases) in a transaction whose business time is
// now: the same unless the test clock is on, then the transaction's time
// without the offset.
func (db *DB) wallNow(ctx context.Context, tx pgx.Tx, now time.Time) (time.Time, error) {
	if !db.TestClock {
		return now, nil
	}
	return db.txNow(ctx, tx)
}

func (db *DB) txNow(ctx context.Context, tx pgx.Tx) (time.Time, error) {
	if db.Now != nil {
		return db.Now().UTC().Truncate(time.Microsecond), nil
	}
	var now time.Time
	if err := tx.QueryRow(ctx, `SELECT transaction_timestamp()`).Scan(&now); err != nil {
		return time.Time{}, fmt.Errorf("transaction time: %w", err)
	}
	db.noteTxTime(now)
	return now.UTC(), nil
}

// noteTxTime follows the server's clock from now, the time of a transaction
// that began at most a round trip ago: a clock step on either side shows as
// a jump far beyond that.
func (db *DB) noteTxTime(now time.Time) {
	if off := time.Until(now); (off - time.Duration(db.clockOffset.Load())).Abs() > 100*time.Millisecond {
		db.clockOffset.Store(int64(off))
	}
}

// Clock returns the current time by the database server's clock, as this
// node last measured it (at start, then on every transaction that finds it
// moved by more than 100 ms), or Now when a test set it. Token expiry is
// checked against it, so that all nodes agree whatever their own clocks.
func (db *DB) Clock() time.Time {
	if db.Now != nil {
		return db.Now().UTC()
	}
	return time.Now().Add(time.Duration(db.clockOffset.Load())).UTC()
}

// measureClock sets the clock offset from one query on conn, taking the
// middle of its round trip as the moment the server read its clock.
func (db *DB) measureClock(ctx context.Context, conn *pgx.Conn) {
	var server time.Time
	before := time.Now()
	if err := conn.QueryRow(ctx, `SELECT clock_timestamp()`).Scan(&server); err != nil {
		db.log.Warn("cannot read the server's clock", "error", err)
		return
	}
	after := time.Now()
	off := server.Sub(before.Add(after.Sub(before) / 2))
	db.clockOffset.Store(int64(off))
	if off.Abs() > time.Second {
		db.log.Warn("this node's clock differs from the database server's; business time and token expiry follow the server", "offset", off.String())
	}
}

// opTimeout bounds a whole operation, retries included, so it fails in
// bounded time even when the server stops answering without closing the
// connection (statement_timeout only helps while the server is alive).
func (db *DB) opTimeout() time.Duration { return db.ConnectTimeout + 2*db.StatementTimeout }

// readCtx bounds a read by the operation deadline; see read for reads that
// run again on a fresh connection.
func (db *DB) readCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return db.opContext(ctx)
}

// opContext returns ctx bounded by opTimeout: an operation ends by the
// request's deadline or by then, whichever comes first.
func (db *DB) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, db.opTimeout())
}

// withTx runs fn in a READ COMMITTED transaction with a fixed now and
// commits; see withTxCheck. Its commit answer lost, it reports the outcome
// as unknown.
func (db *DB) withTx(ctx context.Context, op string, retry func(error) bool, fn func(ctx context.Context, tx pgx.Tx, now time.Time) error) error {
	return db.withTxCheck(ctx, op, retry, fn, nil)
}

// withTxCheck runs fn in a READ COMMITTED transaction with a fixed now and
// commits, all within the operation's deadline (the context's, else
// opTimeout). fn's error rolls back.
//
// When PostgreSQL aborts the transaction with a serialization failure or
// deadlock, or retry(err) says so, the whole operation runs again, up to
// MaxAttempts times with a small jittered backoff. A transaction that loses
// its connection before its commit was sent committed nothing, so it runs
// once more on a fresh connection. Application errors (*phonefleet.Error)
// are never retried.
//
// When the commit was sent but its answer was lost, check reads back on a
// fresh connection whether it committed: nil if it did, the error if it did
// not, an error wrapping phonefleet.ErrOutcomeUnknown if that cannot be
// known. The last quarter of the deadline is kept for this (and for the
// caller's failure audit event).
func (db *DB) withTxCheck(ctx context.Context, op string, retry func(error) bool, fn func(ctx context.Context, tx pgx.Tx, now time.Time) error, check commitCheck) error {
	ctx, cancel := db.opContext(ctx)
	defer cancel()
	opCtx, opCancel := txContext(ctx)
	defer opCancel()
	release, err := db.acquireTenantSlot(opCtx)
	if err != nil {
		return fmt.Errorf("wait for the tenant's share of the pool: %w", err)
	}
	defer release()
	return db.retryTx(ctx, opCtx, op, retry, check, 0, func(ctx context.Context) error { return db.runTx(ctx, fn, check != nil) })
}

// txContext returns the context of an operation's transactions: ctx (which
// has a deadline) without the last quarter of its time, which is kept for
// reading back a lost commit answer and for the failure audit event.
func txContext(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, _ := ctx.Deadline()
	return context.WithDeadline(ctx, deadline.Add(-time.Until(deadline)/4))
}

// retryTx is the loop of withTxCheck, for an operation that holds its
// tenant's slot already: it runs run, one transaction, within opCtx, again
// as withTxCheck says, and reads back a lost commit answer within ctx.
// tried counts the attempts already made (in a shared transaction) against
// MaxAttempts.
func (db *DB) retryTx(ctx, opCtx context.Context, op string, retry func(error) bool, check commitCheck, tried int, run func(ctx context.Context) error) error {
	var err error
	txCtx, reconnected := opCtx, false
	for attempt := 1 + tried; ; attempt++ {
		if err = run(txCtx); err == nil {
			return nil
		}
		db.noteError(err)
		var amb *ambiguousCommitError
		if errors.As(err, &amb) {
			return db.resolveCommit(ctx, op, check, amb)
		}
		var e *phonefleet.Error
		if errors.As(err, &e) {
			return err
		}
		if connectionLost(err) && !reconnected && opCtx.Err() == nil {
			reconnected = true
			connRetriesTotal.WithLabelValues("write").Inc()
			db.log.Warn("transaction lost its connection before its commit; retrying on a fresh one", "op", op, "error", err)
			txCtx = context.WithValue(opCtx, forcePingKey{}, true)
			continue
		}
		if attempt >= MaxAttempts || !(isRetryable(err) || (retry != nil && retry(err))) {
			return err
		}
		db.log.Debug("retrying transaction", "op", op, "attempt", attempt, "error", err)
		backoff := time.Duration(attempt) * (2*time.Millisecond + rand.N(10*time.Millisecond))
		select {
		case <-opCtx.Done():
			return fmt.Errorf("%w (after %d attempts: %w)", opCtx.Err(), attempt, err)
		case <-time.After(backoff):
		}
	}
}

// runTx runs fn in one transaction and commits. With readBack, it reads the
// transaction's ID before sending COMMIT, so that a lost commit answer can
// be read back.
func (db *DB) runTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx, now time.Time) error, readBack bool) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	now, err := db.businessNow(ctx, tx)
	if err == nil {
		err = fn(ctx, tx, now)
	}
	if err != nil {
		if connectionLost(err) {
			dropConn(tx.Conn())
		}
		return err
	}
	var xid uint64
	if readBack {
		if err := tx.QueryRow(ctx, currentXIDSQL).Scan(&xid); err != nil {
			if connectionLost(err) {
				dropConn(tx.Conn())
			}
			return fmt.Errorf("transaction ID: %w", err)
		}
	}
	if err := commitUnsent(ctx, tx.Conn()); err != nil {
		return err
	}
	start := time.Now()
	err = tx.Commit(ctx)
	commitDuration.Observe(time.Since(start).Seconds())
	if err != nil {
		if connectionLost(err) {
			dropConn(tx.Conn())
			return &ambiguousCommitError{xid: xid, err: err}
		}
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// commitUnsent returns the error of a COMMIT that cannot be sent on conn
// (the connection is gone, or ctx is done), or nil. Once a COMMIT was
// sent, any loss of its connection leaves its outcome unknown until it is
// read back: even an error pgconn calls safe to retry (it says so of a
// connection the server side closed after the COMMIT went out), and even
// an error of the server that ends the session (which may follow a
// commit).
func commitUnsent(ctx context.Context, conn *pgx.Conn) error {
	if conn.IsClosed() {
		return fmt.Errorf("commit not sent: %w", pgconn.ErrConnClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("commit not sent: %w", err)
	}
	return nil
}

// dropConn closes the socket of a connection that failed or timed out. pgx
// would otherwise drain it for up to 15 s (a dead network path never
// closes) while the pool counts it, so a few dead connections would starve
// the pool for every request.
func dropConn(c *pgx.Conn) {
	if nc := c.PgConn().Conn(); nc != nil {
		nc.Close()
	}
}

// isRetryable reports whether PostgreSQL aborted the transaction in a way
// that running it again may fix.
func isRetryable(err error) bool {
	code := pgCode(err)
	return code == codeSerializationFailure || code == codeDeadlockDetected
}

// pgCode returns the SQLSTATE of a server error, or "".
func pgCode(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	return ""
}

// formatError turns a constraint violation into the application error both
// stores return for it: a unique violation is EConflict, a foreign key
// violation ENotFound. Callers replace the message with one that names the
// row. Other errors pass through unchanged.
func formatError(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch pgErr.Code {
	case codeUniqueViolation:
		return phonefleet.Errorf(phonefleet.EConflict, "duplicate %s", pgErr.ConstraintName)
	case codeForeignKeyViolation:
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
	return isUniqueViolation(err, "orders_pkey", "instances_pkey", "instances_tenant_id_id_idx")
}

// isUniqueViolation reports whether err is a unique violation of one of the
// named constraints.
func isUniqueViolation(err error, constraints ...string) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != codeUniqueViolation {
		return false
	}
	for _, c := range constraints {
		if pgErr.ConstraintName == c {
			return true
		}
	}
	return false
}

// whereClause joins conditions with AND, or returns "" for none.
func whereClause(conds []string) string {
	if len(conds) == 0 {
		return ""
	}
	return "WHERE " + strings.Join(conds, " AND ")
}

// nullString returns nil for "" so optional text columns store NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
