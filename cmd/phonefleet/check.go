package main

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// CheckCommand checks a store's rows against each other.
type CheckCommand struct{ *Env }

const checkUsage = `Usage: phonefleet check [--db FILE|URL]

Reads the whole store in one read transaction and checks the rules that hold
between its rows: every unsubscribed instance has exactly one refund and its
release job (a deleting one waits for it; a released one's may have been
removed by --job-retention), no instance has two jobs in flight or a job in
flight once released, every tenant's count of held instances matches its
instances, and every row names a tenant, order and instance that exist.
Prints each problem on a line of its own and exits 1 if there is any;
prints nothing on a consistent store. Servers may keep running.
`

// Run checks --db.
func (c *CheckCommand) Run(ctx context.Context, args []string) error {
	var dsn string
	fs := c.newFlagSet("check", checkUsage, &dsn)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	store, err := openSnapshotStore(dsn, false)
	if err != nil {
		return err
	}
	defer store.Close()
	problems, err := checkConsistency(ctx, store)
	if err != nil {
		return err
	}
	for _, p := range problems {
		fmt.Fprintln(c.Stdout, p)
	}
	if len(problems) > 0 {
		return fmt.Errorf("%d consistency problem(s)", len(problems))
	}
	return nil
}

// checkConsistency streams the store through phonefleet.ConsistencyCheck.
func checkConsistency(ctx context.Context, store snapshotStore) ([]string, error) {
	check := phonefleet.NewConsistencyCheck()
	if err := store.ExportBatches(ctx, check.Add); err != nil {
		return nil, err
	}
	return check.Problems(), nil
}
