package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/postgres"
	"github.com/phonefleet/phonefleet/sqlite"
)

// MigrateCommand creates or upgrades the database schema, or shows where
// it stands.
type MigrateCommand struct{ *Env }

const migrateUsage = `Usage: phonefleet migrate [--db DSN] [--status]

Creates or upgrades the database; a new database gets the default SKU catalogue.
Migrations only go forward: none is ever undone.

With --status it changes nothing and prints, one JSON object per line, every
migration this binary knows and every one the database has had: "name",
"known" (this binary has it), "applied" and "applied_at". It exits 1 when the
database has had a migration this binary does not know: a newer version ran
on it.
`

// Run applies every pending migration and exits, or with --status lists
// them.
func (c *MigrateCommand) Run(ctx context.Context, args []string) error {
	var dsn string
	var status bool
	fs := c.newFlagSet("migrate", migrateUsage, &dsn)
	fs.BoolVar(&status, "status", false, "list the migrations and whether each is applied; change nothing")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	if status {
		return c.status(ctx, dsn)
	}
	store, err := openStore(dsn, StoreOptions{Create: true})
	if err != nil {
		return err
	}
	return store.Close()
}

// status prints the migration status of dsn.
func (c *MigrateCommand) status(ctx context.Context, dsn string) error {
	var known []string
	var applied map[string]time.Time
	var err error
	if dsn == "" {
		return usagef("--db must not be empty")
	} else if isPostgresURL(dsn) {
		known = postgres.Migrations()
		applied, err = postgres.AppliedMigrations(ctx, dsn)
	} else {
		known = sqlite.Migrations()
		applied, err = sqlite.AppliedMigrations(ctx, dsn)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", redactDSN(dsn), err)
	}
	st := phonefleet.PlanMigrationStatus(known, applied)
	if err := writeJSONLines(c.Stdout, st); err != nil {
		return err
	}
	if unknown := phonefleet.UnknownMigrations(st); len(unknown) > 0 {
		return fmt.Errorf("the database has migrations this binary does not know (%s): a newer version ran on it", strings.Join(unknown, ", "))
	}
	return nil
}
