package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/postgres"
	"github.com/phonefleet/phonefleet/sqlite"
)

// StoreOptions tunes the store a command opens; zero values mean defaults.
type StoreOptions struct {
	Logger             *slog.Logger // nil: the default logger
	PGMaxConns         int32
	PGStatementTimeout time.Duration
	PGConnectTimeout   time.Duration

	// Create lets a missing SQLite file be created. Only migrate, serve,
	// tenant create and copy (its target) create a database; every other
	// command fails on a missing one, so a mistyped path never reads as an
	// empty database.
	Create           bool
	PGStartupTimeout time.Duration // 0: one attempt

	// TestClock makes business time follow the stored test clock offset.
	TestClock bool

	// PGReportLimits logs the connection budget and the superuser warning
	// when a PostgreSQL store opens: serve only, once per start.
	PGReportLimits bool
}

// isPostgresURL reports whether dsn names a PostgreSQL database.
func isPostgresURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// openStore opens (and migrates) the store that dsn names.
func openStore(dsn string, opts StoreOptions) (phonefleet.Store, error) {
	if dsn == "" {
		return nil, usagef("--db must not be empty")
	}
	if isPostgresURL(dsn) {
		db := postgres.NewDB(dsn)
		if opts.Logger != nil {
			db.Logger = opts.Logger
		}
		if opts.PGMaxConns > 0 {
			db.MaxConns = opts.PGMaxConns
		}
		if opts.PGStatementTimeout > 0 {
			db.StatementTimeout = opts.PGStatementTimeout
		}
		if opts.PGConnectTimeout > 0 {
			db.ConnectTimeout = opts.PGConnectTimeout
		}
		db.StartupTimeout = opts.PGStartupTimeout
		db.TestClock = opts.TestClock
		db.ReportLimits = opts.PGReportLimits
		if err := db.Open(); err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		return db, nil
	}
	if !opts.Create {
		if _, err := os.Stat(dsn); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("database %s does not exist (phonefleet migrate creates it)", dsn)
		}
	}
	db := sqlite.NewDB(dsn)
	if opts.Logger != nil {
		db.Logger = opts.Logger
	}
	db.TestClock = opts.TestClock
	if err := db.Open(); err != nil {
		return nil, fmt.Errorf("open sqlite %s: %w", dsn, err)
	}
	return db, nil
}

// redactDSN hides the password of a postgres URL for logs.
func redactDSN(dsn string) string {
	if !isPostgresURL(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://(unparsable)"
	}
	return u.Redacted()
}
