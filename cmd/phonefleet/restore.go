package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/phonefleet/phonefleet"
	"github.com/phonefleet/phonefleet/sqlite"
)

// RestoreCommand puts a backup back in place of a SQLite store that is not
// in use.
type RestoreCommand struct{ *Env }

const restoreUsage = `Usage: phonefleet restore --from FILE --db FILE [--force]

Replaces the SQLite database --db with the backup --from (a file
"phonefleet backup" wrote). The backup must be a phonefleet database that
passes SQLite's integrity and foreign key checks, has no migration this
binary does not know, and passes phonefleet's own consistency checks (those
of "phonefleet check") once migrated to this binary's schema. --db must not
be in use: every phonefleet process holds a shared lock on --db's lock file
(FILE.lock) while it has the database open, and restore refuses while any
does (stop the servers first). An existing --db is replaced only with
--force; it is replaced atomically (a rename), and its old write-ahead log is
removed. --from is not changed.
`

// Run restores --from into --db.
func (c *RestoreCommand) Run(ctx context.Context, args []string) error {
	var dsn, from string
	var force bool
	flags := c.newFlagSet("restore", restoreUsage, &dsn)
	flags.StringVar(&from, "from", "", "the backup file")
	flags.BoolVar(&force, "force", false, "replace --db if it exists")
	if err := parseNoArgs(flags, args); err != nil {
		return err
	} else if from == "" {
		return usagef("--from is required")
	} else if isPostgresURL(dsn) {
		return usagef("restore replaces a SQLite file; restore a PostgreSQL database with pg_restore or from a base backup, see docs/operations.md")
	} else if from == dsn {
		return usagef("--from must differ from --db")
	}

	// Through a symbolic link, the file it leads to is replaced, and the
	// lock is that file's.
	dsn = sqlite.ResolvePath(dsn)
	unlock, err := sqlite.LockExclusive(dsn)
	if errors.Is(err, sqlite.ErrInUse) {
		return phonefleet.Errorf(phonefleet.EConflict, "%s is in use: a server or command has it open (it holds %s); stop it first", dsn, sqlite.LockPath(dsn))
	} else if err != nil {
		return err
	}
	defer unlock()
	if _, err := os.Lstat(dsn); err == nil && !force {
		return phonefleet.Errorf(phonefleet.EConflict, "%s exists (--force replaces it)", dsn)
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}

	if err := sqlite.CheckFile(ctx, from); err != nil {
		return err
	}
	tmp, err := sqlite.CopyToTemp(from, dsn)
	if err != nil {
		return err
	}
	defer sqlite.RemoveTemp(tmp, true)
	if err := checkRestored(ctx, tmp); err != nil {
		return fmt.Errorf("%s: %w", from, err)
	}
	if err := sqlite.Install(tmp, dsn); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.Stdout, "restored %s from %s\n", dsn, from)
	return err
}

// checkRestored opens the copy of a backup at path, which migrates it to
// this binary's schema, and runs the consistency checks on it.
func checkRestored(ctx context.Context, path string) error {
	store, err := openSnapshotStore(path, false)
	if err != nil {
		return err
	}
	problems, err := checkConsistency(ctx, store)
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	} else if len(problems) > 0 {
		return phonefleet.Errorf(phonefleet.EInvalid, "the backup fails the consistency checks:\n%s", strings.Join(problems, "\n"))
	}
	return nil
}
