package main

import (
	"context"
	"fmt"
)

// ---- delete-pay-per-use ----------------------------------------------------

type instancesDeletePayPerUseCommand struct{ *Env }

// deletedLine is one instance of a delete-pay-per-use's output.
type deletedLine struct {
	InstanceID string `json:"instance_id"`
	Noop       bool   `json:"noop"`
	DryRun     bool   `json:"dry_run"`
}

const deletePayPerUseUsage = `Usage: phonefleet instances delete-pay-per-use [--dry-run] [--yes] ID...

Deletes pay-per-use instances: their charges stop now and the data plane
releases them; nothing is refunded (nothing was paid up front). The server
checks them first (a dry run): instances that are not the tenant's or are
yearly/monthly (use "instances unsubscribe") fail the command before
anything changes. It then asks for confirmation (on stdin; --yes skips it).
--dry-run only shows what would be deleted. More than 100 IDs go in batches
of 100.
`

func (c *instancesDeletePayPerUseCommand) Run(ctx context.Context, args []string) error {
	var dryRun, yes bool
	p, err := c.parseIDsCommand(args, "instances delete-pay-per-use", deletePayPerUseUsage, func(fs *flagSet) {
		fs.BoolVar(&dryRun, "dry-run", false, "show what would be deleted, change nothing")
		fs.BoolVar(&yes, "yes", false, "do not ask for confirmation")
	}, nil)
	if err != nil {
		return err
	}
	ids, out, cl := p.ids, p.out, p.cl

	// The preview: the server's dry run, batch by batch.
	lines, err := collectBatches(ids, func(b []string) ([]deletedLine, error) {
		dry, err := cl.DeletePayPerUseDryRun(ctx, b)
		if err != nil {
			return nil, err
		}
		ls := make([]deletedLine, 0, len(dry.Instances))
		for _, it := range dry.Instances {
			ls = append(ls, deletedLine{it.InstanceID, it.Noop, true})
		}
		return ls, nil
	})
	if err != nil {
		return err
	}
	if dryRun {
		return c.printDeleted(out, lines)
	}
	if !yes {
		writeTable(c.Stderr, []string{"ID", ""}, deletedRows(lines))
		fmt.Fprintf(c.Stderr, "Delete %d pay-per-use instance(s)? Their charges stop and the phones are released. Type yes to confirm: ", len(ids))
		if !c.confirmed() {
			return fmt.Errorf("not confirmed: nothing was deleted (use --yes to skip the question)")
		}
	}
	bar := c.newProgress("deleting", len(ids))
	done := 0
	for _, b := range batches(ids, maxIDsPerCall) {
		if err := cl.DeletePayPerUse(ctx, b); err != nil {
			bar.end()
			if done > 0 {
				fmt.Fprintf(c.Stderr, "phonefleet instances delete-pay-per-use: the first %d were deleted before the error\n", done)
			}
			return err
		}
		done += len(b)
		bar.set(done)
	}
	bar.end()
	for i := range lines {
		lines[i].DryRun = false
	}
	return c.printDeleted(out, lines)
}

func deletedRows(lines []deletedLine) [][]string {
	rows := make([][]string, len(lines))
	for i, l := range lines {
		note := ""
		if l.Noop {
			note = "already deleted: no-op"
		}
		rows[i] = []string{l.InstanceID, note}
	}
	return rows
}

func (c *instancesDeletePayPerUseCommand) printDeleted(out string, lines []deletedLine) error {
	if out == "json" {
		return writeJSONLines(c.Stdout, lines)
	}
	return writeTable(c.Stdout, []string{"ID", ""}, deletedRows(lines))
}
