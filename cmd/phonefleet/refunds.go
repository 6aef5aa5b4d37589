package main

import (
	"context"

	"github.com/phonefleet/phonefleet"
)

// RefundsCommand prints refunds.
type RefundsCommand struct{ *Env }

// Run prints refunds, oldest first, as JSON lines.
func (c *RefundsCommand) Run(ctx context.Context, args []string) error {
	return runList(ctx, c.Env, args, "refunds", "Usage: phonefleet refunds [--tenant NAME]\n\nPrints refunds, oldest first, one JSON object per line: instance_id, order_id,\npaid, consumed, fee, amount, currency (minor units), request_id, created_at.\n", "only this tenant's refunds",
		func(ctx context.Context, ops operatorAPI, tenant string) ([]*phonefleet.Refund, error) {
			return ops.Refunds(ctx, tenant)
		})
}
