package postgres

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/phonefleet/phonefleet"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics of the PostgreSQL store, registered with the default registry.
var (
	tooManyClientsTotal = promauto.NewCounter(prometheus.CounterOpts{
		Name: "phonefleet_postgres_too_many_clients_total",
		Help: `Connection attempts PostgreSQL refused with "too many clients" (SQLSTATE 53300).`,
	})
	connRetriesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_postgres_connection_retries_total",
		Help: "Operations run again on a fresh connection after losing theirs, by kind (read or write).",
	}, []string{"kind"})
	ambiguousCommitsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Name: "phonefleet_postgres_ambiguous_commits_total",
		Help: "Commits whose answer was lost, by what reading back found: committed, rolled_back or unknown.",
	}, []string{"outcome"})
)

// The labelled series are exported from the start, at 0.
func init() {
	for _, kind := range []string{"read", "write"} {
		connRetriesTotal.WithLabelValues(kind)
	}
	for _, outcome := range []string{"committed", "rolled_back", "unknown"} {
		ambiguousCommitsTotal.WithLabelValues(outcome)
	}
}

// codeTooManyConnections is PostgreSQL's "sorry, too many clients already".
const codeTooManyConnections = "53300"

// forcePingKey marks a context whose pool acquisitions must ping the
// connection first, so a retry never runs on a connection that died idle.
type forcePingKey struct{}

// shouldPing pings connections acquired for a retry, and those idle for more
// than a second (pgx's default).
func shouldPing(ctx context.Context, p pgxpool.ShouldPingParams) bool {
	return ctx.Value(forcePingKey{}) != nil || p.IdleDuration > time.Second
}

// connectionLost reports whether err is the loss (or failure to open) of a
// connection rather than an answer of the server or an application error.
// A server that ends the session (terminated by an administrator, shutting
// down) or reports a connection exception counts as lost too: the session
// is gone and its open transaction with it.
func connectionLost(err error) bool {
	var pgErr *pgconn.PgError
	var appErr *phonefleet.Error
	switch {
	case err == nil, errors.As(err, &appErr), errors.Is(err, pgx.ErrNoRows), errors.Is(err, pgx.ErrTxCommitRollback):
		return false
	case errors.As(err, &pgErr):
		return pgErr.Code == "57P01" || pgErr.Code == "57P02" || strings.HasPrefix(pgErr.Code, "08")
	}
	return true
}

// read runs fn, a read-only operation, within the operation deadline. A read
// that loses its connection runs once more on a fresh one: reading twice
// changes nothing.
func (db *DB) read(ctx context.Context, fn func(ctx context.Context) error) error {
	ctx, cancel := db.opContext(ctx)
	defer cancel()
	release, err := db.acquireTenantSlot(ctx)
	if err != nil {
		return fmt.Errorf("wait for the tenant's share of the pool: %w", err)
	}
	defer release()
	err = fn(ctx)
	db.noteError(err)
	if err == nil || !connectionLost(err) || ctx.Err() != nil {
		return err
	}
	connRetriesTotal.WithLabelValues("read").Inc()
	db.log.Warn("read lost its connection; retrying on a fresh one", "error", err)
	err = fn(context.WithValue(ctx, forcePingKey{}, true))
	db.noteError(err)
	return err
}

// noteError counts and logs (at most every 10 s) the server's refusals of
// new connections for lack of slots. They are not unreadiness: the server
// answers, and taking every node out of the load balancer at once would
// not give it more slots.
func (db *DB) noteError(err error) {
	if err == nil || pgCode(err) != codeTooManyConnections {
		return
	}
	tooManyClientsTotal.Inc()
	now := time.Now().UnixNano()
	if last := db.tooManyLogged.Load(); now-last > int64(10*time.Second) && db.tooManyLogged.CompareAndSwap(last, now) {
		db.log.Error(`PostgreSQL refused a connection: too many clients; lower --pg-max-conns on the nodes or raise max_connections`,
			"max_conns", db.MaxConns, "error", err)
	}
}

// ambiguousCommitError is a commit sent to the server whose answer never
// came back: the transaction may or may not have committed, or may still be
// waiting for the rest of its COMMIT.
type ambiguousCommitError struct {
	xid uint64 // the transaction's ID, read before COMMIT was sent; 0 if it wrote nothing
	err error
}

func (e *ambiguousCommitError) Error() string { return "commit: " + e.err.Error() }
func (e *ambiguousCommitError) Unwrap() error { return e.err }

// unknownOutcomeError is the error of a transaction whose outcome could not
// be read back in time; it keeps what is needed to read it back later.
type unknownOutcomeError struct {
	check commitCheck
	xid   uint64
	err   error
}

func (e *unknownOutcomeError) Error() string { return e.err.Error() }
func (e *unknownOutcomeError) Unwrap() error { return e.err }

// commitCheck reports, on a fresh connection, whether the operation's
// writes are in the database. It runs once the server has decided the
// transaction's fate, and must agree with it.
type commitCheck func(ctx context.Context, conn *pgx.Conn) (bool, error)

// auditCommitted is the commitCheck of an operation that writes the audit
// event *e in its transaction: the transaction committed if and only if the
// event's row (found by its ID and the request ID) exists.
func auditCommitted(e **phonefleet.AuditEvent) commitCheck {
	return func(ctx context.Context, conn *pgx.Conn) (bool, error) {
		if *e == nil {
			// The operation succeeded without an event to write: it
			// changed nothing (a purchase replayed by its request ID).
			return true, nil
		}
		if (*e).ID == 0 {
			return false, errors.New("audit event ID unknown")
		}
		var ok bool
		err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM audit_events WHERE id = $1 AND request_id = $2)`,
			(*e).ID, (*e).RequestID).Scan(&ok)
		return ok, err
	}
}

// currentXIDSQL reads the transaction's ID before its COMMIT is sent, so a
// lost commit answer can be read back by it: NULL (0) if the transaction
// wrote nothing.
const currentXIDSQL = `SELECT COALESCE(pg_current_xact_id_if_assigned()::text::bigint, 0)`

// resolveCommit finds out, on a fresh connection and within ctx, whether
// the transaction of amb committed. It asks the server for the status of
// the transaction's ID: committed and aborted are final; a transaction
// still in progress (its backend may yet receive the rest of its COMMIT)
// has its backend terminated, and is asked about again. It returns nil if
// the transaction committed, amb's error if it did not, and an error
// wrapping phonefleet.ErrOutcomeUnknown if it cannot tell in time.
func (db *DB) resolveCommit(ctx context.Context, op string, check commitCheck, amb *ambiguousCommitError) error {
	committed, err := db.readBack(ctx, check, amb.xid)
	switch {
	case err != nil:
		ambiguousCommitsTotal.WithLabelValues("unknown").Inc()
		db.log.Error("commit answer lost and reading back failed: outcome unknown", "op", op, "xid", amb.xid, "error", amb.err, "read_back_error", err)
		return &unknownOutcomeError{check: check, xid: amb.xid,
			err: fmt.Errorf("%w: %s: commit answer lost (%w); read back: %w", phonefleet.ErrOutcomeUnknown, op, amb.err, err)}
	case committed:
		ambiguousCommitsTotal.WithLabelValues("committed").Inc()
		db.log.Warn("commit answer lost; reading back found the transaction committed", "op", op, "xid", amb.xid, "error", amb.err)
		return nil
	default:
		ambiguousCommitsTotal.WithLabelValues("rolled_back").Inc()
		db.log.Warn("commit answer lost; reading back found nothing committed", "op", op, "xid", amb.xid, "error", amb.err)
		return amb
	}
}

// readBack reports whether transaction xid committed. Only the server's
// final word counts: pg_xact_status committed or aborted, and check
// agreeing with it. A transaction in progress is ended first (its backend
// is the only one whose backend_xid is xid), since its COMMIT may still be
// on its way; anything else is an error, never "not committed".
func (db *DB) readBack(ctx context.Context, check commitCheck, xid uint64) (bool, error) {
	if check == nil {
		return false, errors.New("this operation cannot be read back")
	}
	conn, err := pgx.ConnectConfig(ctx, db.connConfig)
	if err != nil {
		db.noteError(err)
		return false, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	registerUTC(conn.TypeMap())
	if xid == 0 {
		// Nothing was written: the check alone tells (it finds no write
		// to look for).
		return check(ctx, conn)
	}
	id := strconv.FormatUint(xid, 10)
	for {
		var status *string
		if err := conn.QueryRow(ctx, `SELECT pg_xact_status($1::xid8)`, id).Scan(&status); err != nil {
			return false, fmt.Errorf("status of transaction %s: %w", id, err)
		}
		if status == nil {
			return false, fmt.Errorf("status of transaction %s: no longer known", id)
		}
		if *status == "committed" || *status == "aborted" {
			found, err := check(ctx, conn)
			if err != nil {
				return false, fmt.Errorf("transaction %s %s: %w", id, *status, err)
			}
			if found != (*status == "committed") {
				return false, fmt.Errorf("transaction %s %s, but its writes are %s", id, *status, map[bool]string{true: "there", false: "missing"}[found])
			}
			return found, nil
		}
		// In progress: end its session, waiting (within ctx) for it to go.
		var ended int
		if err := conn.QueryRow(ctx, `SELECT COUNT(pg_terminate_backend(pid, 500)) FROM pg_stat_activity WHERE backend_xid = xid($1::xid8)`, id).Scan(&ended); err != nil {
			return false, fmt.Errorf("end transaction %s: %w", id, err)
		}
		if ended == 0 {
			select {
			case <-ctx.Done():
				return false, fmt.Errorf("transaction %s still in progress: %w", id, ctx.Err())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
}

// Ping reports whether PostgreSQL answers, on a connection of its own that
// is reserved for health checks: it never waits for the request pool, for a
// row lock or for a free connection slot. A server that refuses a new
// connection with "too many clients" answers, so it counts as up. A dead
// health connection is replaced once per check.
func (db *DB) Ping(ctx context.Context) error {
	if db.pool == nil {
		return errNotOpen
	}
	select {
	case db.health <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("ping: %w", ctx.Err())
	}
	defer func() { <-db.health }()

	fresh := false
	if db.healthConn == nil || db.healthConn.IsClosed() {
		if err := db.connectHealth(ctx); err != nil {
			if pgCode(err) == codeTooManyConnections {
				db.noteError(err)
				return nil
			}
			return fmt.Errorf("ping: %w", err)
		}
		fresh = true
	}
	err := db.healthConn.Ping(ctx)
	if err == nil || fresh || ctx.Err() != nil {
		if err != nil {
			db.healthConn.Close(context.Background())
			db.healthConn = nil
			return fmt.Errorf("ping: %w", err)
		}
		return nil
	}
	// The kept connection died (a server restart, a terminated backend):
	// ask once more on a new one.
	db.healthConn.Close(context.Background())
	db.healthConn = nil
	return db.pingFresh(ctx)
}

func (db *DB) pingFresh(ctx context.Context) error {
	if err := db.connectHealth(ctx); err != nil {
		if pgCode(err) == codeTooManyConnections {
			db.noteError(err)
			return nil
		}
		return fmt.Errorf("ping: %w", err)
	}
	if err := db.healthConn.Ping(ctx); err != nil {
		db.healthConn.Close(context.Background())
		db.healthConn = nil
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

func (db *DB) connectHealth(ctx context.Context) error {
	cc := db.connConfig.Copy()
	cc.RuntimeParams["application_name"] = cc.RuntimeParams["application_name"] + " health"
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return err
	}
	db.healthConn = conn
	return nil
}

// closeHealth closes the health connection.
func (db *DB) closeHealth() {
	db.health <- struct{}{}
	defer func() { <-db.health }()
	if db.healthConn != nil {
		db.healthConn.Close(context.Background())
		db.healthConn = nil
	}
}

// connectWithRetry opens the first connection, retrying with a doubling
// backoff (up to 5 s, logged) while the server cannot be reached or is
// starting, for up to StartupTimeout: nodes and the database may start in
// any order. Errors the server answers otherwise (authentication, a
// missing database) fail at once.
func (db *DB) connectWithRetry(cc *pgx.ConnConfig) (*pgx.Conn, error) {
	deadline := time.Now().Add(db.StartupTimeout)
	backoff := 250 * time.Millisecond
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(context.Background(), db.ConnectTimeout)
		conn, err := pgx.ConnectConfig(ctx, cc)
		cancel()
		if err == nil {
			return conn, nil
		}
		retryable := connectionLost(err) || pgCode(err) == "57P03" || pgCode(err) == codeTooManyConnections // starting up
		if !retryable || time.Now().Add(backoff).After(deadline) {
			return nil, fmt.Errorf("connect: %w", err)
		}
		db.log.Warn("PostgreSQL not reachable; retrying", "attempt", attempt, "retry_in", backoff.String(),
			"gives_up_in", time.Until(deadline).Round(time.Second).String(), "error", err)
		time.Sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
}

// checkServerLimits warns when this node's connections alone do not fit in
// the server's max_connections (minus the slots reserved for superusers),
// and when the node connects as a superuser, whose connections may take
// the reserved slots operators need to log in and fix things.
func (db *DB) checkServerLimits(ctx context.Context, conn *pgx.Conn) {
	var maxConns, reserved int
	var super bool
	err := conn.QueryRow(ctx, `
		SELECT current_setting('max_connections')::int,
			current_setting('superuser_reserved_connections')::int,
			COALESCE((SELECT rolsuper FROM pg_roles WHERE rolname = current_user), false)`).Scan(&maxConns, &reserved, &super)
	if err != nil {
		db.log.Warn("cannot read the server's connection limits", "error", err)
		return
	}
	// The pool plus the health connection.
	mine := int(db.MaxConns) + 1
	available := maxConns - reserved
	if mine > available {
		db.log.Warn("this node's connection pool is larger than the server allows: requests will fail with too many clients under load",
			"pool", mine, "max_connections", maxConns, "superuser_reserved_connections", reserved)
	} else {
		db.log.Info("connection budget: the pools of all nodes, plus operators' tools, must fit in the server's slots",
			"pool", mine, "max_connections", maxConns, "superuser_reserved_connections", reserved)
	}
	if super {
		db.log.Warn("connected as a superuser: run nodes as an ordinary role so the reserved slots stay free for operators")
	}
}
