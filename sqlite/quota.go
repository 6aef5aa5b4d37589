package sqlite

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

// holdInstances checks the tenant's quota for count more instances and
// counts them as held. EQuota if the quota would be exceeded.
func holdInstances(ctx context.Context, tx *Tx, tenantID string, count int) error {
	var held, maxInstances int
	if err := tx.QueryRowContext(ctx, `SELECT held_instances, max_instances FROM tenants WHERE id = ?`, tenantID).Scan(&held, &maxInstances); errNoRows(err) {
		return phonefleet.Errorf(phonefleet.ENotFound, "tenant %q not found", tenantID)
	} else if err != nil {
		return fmt.Errorf("read tenant quota: %w", err)
	}
	if err := phonefleet.CheckQuota(held, maxInstances, count); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE tenants SET held_instances = held_instances + ? WHERE id = ?`, count, tenantID); err != nil {
		return fmt.Errorf("hold instances: %w", err)
	}
	return nil
}

// findReplayedPurchase returns the tenant's first order with the request's
// ID from the last phonefleet.PurchaseReplayWindow and its instances, or
// nil if there is none (or the request has no ID). A request whose body
// differs from that order's is EInvalid (phonefleet.CheckPurchaseRetry).
func findReplayedPurchase(ctx context.Context, tx *Tx, req *phonefleet.PurchaseRequest) (*phonefleet.Order, []*phonefleet.Instance, error) {
	if req.RequestID == "" {
		return nil, nil, nil
	}
	var o phonefleet.Order
	var createdAt string
	err := tx.QueryRowContext(ctx, `
		SELECT id, created_at, count, request_digest
		FROM orders
		WHERE tenant_id = ? AND request_id = ? AND created_at >= ?
		ORDER BY created_at, id
		LIMIT 1
	`, req.TenantID, req.RequestID, formatTime(tx.now.Add(-phonefleet.PurchaseReplayWindow))).Scan(&o.ID, &createdAt, &o.Count, &o.RequestDigest)
	if errNoRows(err) {
		return nil, nil, nil
	} else if err != nil {
		return nil, nil, fmt.Errorf("find replayed order: %w", err)
	}
	if err := phonefleet.CheckPurchaseRetry(req, &o); err != nil {
		return nil, nil, err
	}
	o.TenantID, o.RequestID = req.TenantID, req.RequestID
	if o.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, nil, err
	}
	// An order's instances were created with it: the tenant's created_at
	// index finds them without a scan.
	rows, err := tx.QueryContext(ctx, `
		SELECT `+instanceColumns+`
		FROM `+instanceTables+`
		WHERE i.tenant_id = ? AND i.created_at = ? AND i.order_id = ?
		ORDER BY i.name, i.id
	`, req.TenantID, createdAt, o.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("find replayed instances: %w", err)
	}
	defer rows.Close()
	var ins []*phonefleet.Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, nil, err
		}
		ins = append(ins, in)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("find replayed instances: %w", err)
	}
	return &o, ins, nil
}

// releaseHeld counts one instance of the tenant as no longer held.
func releaseHeld(ctx context.Context, tx *Tx, tenantID string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE tenants SET held_instances = held_instances - 1 WHERE id = ?`, tenantID); err != nil {
		return fmt.Errorf("release held instance: %w", err)
	}
	return nil
}

// countHeldInstances sets every tenant's held_instances from its instances.
// An import runs it rather than trusting the counts of the snapshot.
const countHeldInstances = `
	UPDATE tenants SET held_instances = (
		SELECT COUNT(*) FROM instances WHERE instances.tenant_id = tenants.id AND instances.state <> 'released'
	)`
