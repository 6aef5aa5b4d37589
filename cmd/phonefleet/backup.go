package main

import (
	"context"
	"fmt"
	"os"

	"github.com/phonefleet/phonefleet/sqlite"
)

// BackupCommand writes a consistent copy of a SQLite store that may be
// serving.
type BackupCommand struct{ *Env }

const backupUsage = `Usage: phonefleet backup --db FILE --to FILE [--force]

Writes a consistent copy of the SQLite database --db to --to while servers
and commands keep using it: the copy holds every write answered before the
backup began, and writers do not wait for it. --to must not exist unless
--force is given; it appears whole or not at all (written under a temporary
name, fsynced, then renamed). "phonefleet restore" puts a backup back.

A PostgreSQL database is backed up with PostgreSQL's own tools (pg_dump, or
base backups with WAL archiving); see docs/operations.md.
`

// Run backs --db up into --to.
func (c *BackupCommand) Run(ctx context.Context, args []string) error {
	var dsn, to string
	var force bool
	fs := c.newFlagSet("backup", backupUsage, &dsn)
	fs.StringVar(&to, "to", "", "the backup file to write")
	fs.BoolVar(&force, "force", false, "replace --to if it exists")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	} else if to == "" {
		return usagef("--to is required")
	} else if isPostgresURL(dsn) {
		return usagef("backup copies a SQLite file; back a PostgreSQL database up with pg_dump (or base backups with WAL archiving), see docs/operations.md")
	} else if isPostgresURL(to) {
		return usagef("--to must be a file path")
	} else if to == dsn {
		return usagef("--to must differ from --db")
	}
	if err := sqlite.Backup(ctx, dsn, to, force); err != nil {
		return err
	}
	fi, err := os.Stat(to)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.Stdout, "backed up %s to %s (%d bytes)\n", dsn, to, fi.Size())
	return err
}
