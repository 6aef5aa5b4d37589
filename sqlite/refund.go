package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// FindRefunds returns refunds ordered by created_at, then instance ID.
func (db *DB) FindRefunds(ctx context.Context, filter phonefleet.RefundFilter) ([]*phonefleet.Refund, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findRefunds(ctx, tx, filter)
}

// findRefunds returns the refunds matching filter ordered by created_at,
// then instance ID.
func findRefunds(ctx context.Context, tx *Tx, filter phonefleet.RefundFilter) ([]*phonefleet.Refund, error) {
	where, args := "", []any{}
	if filter.TenantID != nil {
		where, args = "WHERE tenant_id = ?", append(args, *filter.TenantID)
	}
	rows, err := tx.QueryContext(ctx, `
		SELECT instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at
		FROM refunds
		`+where+`
		ORDER BY created_at, instance_id
	`, args...)
	if err != nil {
		return nil, fmt.Errorf("query refunds: %w", err)
	}
	defer rows.Close()

	out := []*phonefleet.Refund{}
	for rows.Next() {
		r, err := scanRefund(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query refunds: %w", err)
	}
	return out, nil
}

// refundColumns are the columns scanRefund reads.
const refundColumns = `instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at`

func scanRefund(rows *sql.Rows) (*phonefleet.Refund, error) {
	var r phonefleet.Refund
	var createdAt string
	if err := rows.Scan(&r.InstanceID, &r.TenantID, &r.OrderID, &r.Paid, &r.Consumed, &r.Fee,
		&r.Amount, &r.Currency, &r.RequestID, &createdAt); err != nil {
		return nil, fmt.Errorf("scan refund: %w", err)
	}
	var err error
	if r.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	}
	return &r, nil
}
