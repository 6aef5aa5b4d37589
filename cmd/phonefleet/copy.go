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
migrated first and must have no tenants yet, which is checked before anything
is read. Rows stream in batches of 1,000, so memory stays flat whatever the
size of the installation; the copy is one transaction, so it lands whole or not
at all (a copy that fails or is killed leaves DST as it was). Stop the servers
on SRC first. Reports progress on stderr and prints a summary.
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

	// Check the target first: a copy into a store in use fails before
	// reading anything.
	imp, err := dst.BeginImport(ctx)
	if err != nil {
		return err
	}
	defer imp.Rollback()
	var n copyCounts
	next := progressEvery
	err = src.ExportBatches(ctx, func(b *phonefleet.Snapshot) error {
		if err := imp.Write(ctx, b); err != nil {
			return err
		}
		n.add(b)
		if total := n.rows(); total >= next {
			fmt.Fprintf(c.Stderr, "copying: %d rows so far (%d instances)\n", total, n.instances)
			next = total + progressEvery
		}
		return nil
	})
	if err != nil {
		if phonefleet.ErrorCode(err) != phonefleet.EInternal {
			return err
		}
		return fmt.Errorf("copy %s to %s: %w", redactDSN(from), redactDSN(to), err)
	}
	if err := imp.Commit(ctx); err != nil {
		return err
	}
	_, err = fmt.Fprintf(c.Stdout, "copied %d tenants, %d users, %d access keys, %d tokens, %d SKUs, %d orders, %d instances, %d refunds, %d commands, %d audit events\n",
		n.tenants, n.users, n.accessKeys, n.tokens, n.skus, n.orders, n.instances, n.refunds, n.commands, n.auditEvents)
	return err
}

// progressEvery is how many rows copy reports progress after.
const progressEvery = 10000

// copyCounts counts the rows copied, by table.
type copyCounts struct {
	tenants, users, accessKeys, tokens, skus, orders, instances, refunds, commands, auditEvents int
}

func (n *copyCounts) add(b *phonefleet.Snapshot) {
	n.tenants += len(b.Tenants)
	n.users += len(b.Users)
	n.accessKeys += len(b.AccessKeys)
	n.tokens += len(b.Tokens)
	n.skus += len(b.SKUs)
	n.orders += len(b.Orders)
	n.instances += len(b.Instances)
	n.refunds += len(b.Refunds)
	n.commands += len(b.Commands)
	n.auditEvents += len(b.AuditEvents)
}

func (n *copyCounts) rows() int {
	return n.tenants + n.users + n.accessKeys + n.tokens + n.skus + n.orders + n.instances + n.refunds + n.commands + n.auditEvents
}

// snapshotStore is a store that can export and import itself in batches.
type snapshotStore interface {
	phonefleet.Store
	phonefleet.SnapshotStreamer
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
