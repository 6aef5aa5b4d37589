package main

import (
	"context"
)

// AuditCommand prints the audit trail.
type AuditCommand struct{ *Env }

// Run prints audit events, newest first, as JSON lines.
func (c *AuditCommand) Run(ctx context.Context, args []string) error {
	var of operatorFlags
	var tenant string
	var limit int
	fs := c.newOperatorFlagSet("audit", "Usage: phonefleet audit [--tenant NAME] [--limit N]\n\nPrints audit events, newest first, one JSON object per line:\nat, tenant, user, client_addr, action, request_id, instance_ids, error_code,\ndetail.\n", &of)
	fs.StringVar(&tenant, "tenant", "", "only this tenant's events")
	fs.IntVar(&limit, "limit", 0, "at most this many of the newest events (0: all)")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	} else if limit < 0 {
		return usagef("--limit must be 0 or more")
	}
	ops, done, err := c.openOperator(&of, StoreOptions{})
	if err != nil {
		return err
	}
	defer done()
	events, err := ops.Audit(ctx, tenant, limit)
	if err != nil {
		return err
	}
	return writeJSONLines(c.Stdout, events)
}
