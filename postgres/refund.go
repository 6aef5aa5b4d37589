package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

// FindRefunds returns refunds ordered by created_at, then instance ID.
func (db *DB) FindRefunds(ctx context.Context, filter phonefleet.RefundFilter) ([]*phonefleet.Refund, error) {
	var conds []string
	var args []any
	if filter.TenantID != nil {
		args = append(args, *filter.TenantID)
		conds = append(conds, fmt.Sprintf("tenant_id = $%d", len(args)))
	}
	var refunds []*phonefleet.Refund
	err := db.read(ctx, func(ctx context.Context) error {
		rows, err := db.pool.Query(ctx, `
			SELECT instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at
			FROM refunds
			`+whereClause(conds)+`
			ORDER BY created_at, instance_id`, args...)
		if err == nil {
			refunds, err = pgx.CollectRows(rows, scanRefund)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("find refunds: %w", err)
	}
	return refunds, nil
}

func scanRefund(row pgx.CollectableRow) (*phonefleet.Refund, error) {
	var r phonefleet.Refund
	err := row.Scan(&r.InstanceID, &r.TenantID, &r.OrderID, &r.Paid, &r.Consumed, &r.Fee, &r.Amount,
		&r.Currency, &r.RequestID, &r.CreatedAt)
	return &r, err
}
