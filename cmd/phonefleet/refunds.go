package main

import (
	"context"

	"github.com/phonefleet/phonefleet"
)

// RefundsCommand prints refunds.
type RefundsCommand struct{ *Env }

// Run prints refunds, oldest first, as JSON lines.
func (c *RefundsCommand) Run(ctx context.Context, args []string) error {
	var dsn, tenant string
	fs := c.newFlagSet("refunds", "Usage: phonefleet refunds [--tenant NAME]\n\nPrints refunds, oldest first, one JSON object per line: instance_id, order_id,\npaid, consumed, fee, amount, currency (minor units), request_id, created_at.\n", &dsn)
	fs.StringVar(&tenant, "tenant", "", "only this tenant's refunds")
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	store, err := openStore(dsn, StoreOptions{})
	if err != nil {
		return err
	}
	defer store.Close()

	var filter phonefleet.RefundFilter
	if filter.TenantID, err = tenantIDFilter(ctx, store, tenant); err != nil {
		return err
	}
	refunds, err := store.FindRefunds(ctx, filter)
	if err != nil {
		return err
	}
	return writeJSONLines(c.Stdout, refunds)
}
