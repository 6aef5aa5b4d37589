package postgres

import (
	"context"
	"fmt"
	"io/fs"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// Migrations returns the names of the migrations this binary applies, in
// order.
func Migrations() []string {
	names, _ := fs.Glob(migrationFS, "migration/*.sql")
	sort.Strings(names)
	return names
}

// AppliedMigrations reads which migrations the database at url has had,
// and when, without applying any and without the migration lock; a
// database without the migrations table has had none.
func AppliedMigrations(ctx context.Context, url string) (map[string]time.Time, error) {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.Background())
	registerUTC(conn.TypeMap())
	out := map[string]time.Time{}
	var name string
	var at time.Time
	rows, err := conn.Query(ctx, `SELECT name, applied_at FROM migrations`)
	if err == nil {
		_, err = pgx.ForEachRow(rows, []any{&name, &at}, func() error {
			out[name] = at.UTC()
			return nil
		})
	}
	if pgCode(err) == "42P01" { // undefined_table
		return map[string]time.Time{}, nil
	} else if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	return out, nil
}

// warnUnknownMigrations logs the applied migrations that are not among
// known: a newer version ran on the database, and this one keeps working
// only if what it added leaves older code correct (docs/operations.md,
// upgrades).
func (db *DB) warnUnknownMigrations(ctx context.Context, conn *pgx.Conn, known []string) {
	rows, err := conn.Query(ctx, `SELECT name FROM migrations`)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	applied := map[string]time.Time{}
	for _, n := range names {
		applied[n] = time.Time{}
	}
	if unknown := phonefleet.UnknownMigrations(phonefleet.PlanMigrationStatus(known, applied)); len(unknown) > 0 {
		db.log.Warn("the database has migrations this binary does not know: a newer version ran on it", "unknown_migrations", unknown)
	}
}
