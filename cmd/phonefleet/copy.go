package main

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// CopyCommand copies a whole installation from one store to another, e.g.
// from the SQLite file to PostgreSQL when an operator scales out.
type CopyCommand struct{ *Env }

const copyUsage = `Usage: phonefleet copy --from SRC --to DST

Copies every tenant, user, access key, token, SKU, order, instance, refund, data-plane command and audit
event from SRC to DST (each a SQLite file path or a postgres:// URL). DST is
migrated first and must have no tenants yet; the copy is one transaction, so it
lands whole or not at all. Stop the servers on SRC first. Prints a summary.
`

// Run copies --from into --to.
func (c *CopyCommand) Run(ctx context.Context, args []string) error {
	var dsn, from, to string
	fs := c.newFlagSet("copy", copyUsage, &dsn)
	fs.StringVar(&from, "from", "", "source database")
	fs.StringVar(&to, "to", "", "destination database")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	} else if from == "" || to == "" {
		return usagef("--from and --to are required")
	} else if from == to {
		return usagef("--from and --to must differ")
	}

	src, err := openSnapshotStore(from, false)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := openSnapshotStore(to, true)
	if err != nil {
		return err
	}
	defer dst.Close()

	snap, err := src.Export(ctx)
	if err != nil {
		return fmt.Errorf("export %s: %w", redactDSN(from), err)
	}
	if err := dst.Import(ctx, snap); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.Stdout, "copied %d tenants, %d users, %d access keys, %d tokens, %d SKUs, %d orders, %d instances, %d refunds, %d commands, %d audit events\n",
		len(snap.Tenants), len(snap.Users), len(snap.AccessKeys), len(snap.Tokens), len(snap.SKUs), len(snap.Orders), len(snap.Instances),
		len(snap.Refunds), len(snap.Commands), len(snap.AuditEvents))
	return err
}

// snapshotStore is a store that can export and import itself.
type snapshotStore interface {
	phonefleet.Store
	phonefleet.SnapshotService
}

// openSnapshotStore opens the store dsn names; create says it may create a
// missing SQLite file (the copy's target).
func openSnapshotStore(dsn string, create bool) (snapshotStore, error) {
	store, err := openStore(dsn, StoreOptions{Create: create})
	if err != nil {
		return nil, err
	}
	s, ok := store.(snapshotStore)
	if !ok {
		store.Close()
		return nil, fmt.Errorf("%s: this store cannot export or import", redactDSN(dsn))
	}
	return s, nil
}
