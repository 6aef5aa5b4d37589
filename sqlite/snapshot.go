package sqlite

import (
	"context"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

var _ phonefleet.SnapshotService = (*DB)(nil)

// Export reads every row in one read transaction (one WAL snapshot). Rows
// are ordered by ID (refunds by instance ID), compared as
// bytes so that every backend exports the same order; audit events are
// oldest first. Command leases are left out.
func (db *DB) Export(ctx context.Context) (*phonefleet.Snapshot, error) {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	s := &phonefleet.Snapshot{}
	if s.Tenants, err = findTenants(ctx, tx, ""); err != nil {
		return nil, err
	} else if s.Users, err = findUsers(ctx, tx, ""); err != nil {
		return nil, err
	} else if s.AccessKeys, err = findAccessKeys(ctx, tx, ""); err != nil {
		return nil, err
	} else if s.Tokens, err = findTokens(ctx, tx, ""); err != nil {
		return nil, err
	} else if s.SKUs, err = findSKUs(ctx, tx, ""); err != nil {
		return nil, err
	} else if s.Orders, err = findAllOrders(ctx, tx); err != nil {
		return nil, err
	} else if s.Instances, err = findAllInstances(ctx, tx); err != nil {
		return nil, err
	} else if s.Refunds, err = findRefunds(ctx, tx, phonefleet.RefundFilter{}); err != nil {
		return nil, err
	} else if s.Commands, err = findCommands(ctx, tx, nil, nil, "c.id", 0); err != nil {
		return nil, err
	} else if s.AuditEvents, err = findAuditEvents(ctx, tx, phonefleet.AuditFilter{}, "ASC"); err != nil {
		return nil, err
	}

	s.Sort()
	return s, nil
}

// Import writes s in one transaction into a store without tenants
// (EConflict otherwise): its catalogue replaces the store's, and every row
// keeps its IDs, times, token hashes and command state, attempts and
// event ID. Audit events are appended in the order of s with new IDs. On
// any error nothing changes. s is not modified.
func (db *DB) Import(ctx context.Context, s *phonefleet.Snapshot) error {
	if err := s.Validate(); err != nil {
		return err
	}
	return db.write(ctx, func(ctx context.Context, tx *Tx) error {
		return importSnapshot(ctx, tx, s)
	})
}

// importSnapshot is Import inside its transaction. Rows go in parents
// first, so every foreign key holds as it is written.
func importSnapshot(ctx context.Context, tx *Tx, s *phonefleet.Snapshot) error {
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tenants`).Scan(&n); err != nil {
		return fmt.Errorf("count tenants: %w", err)
	} else if n > 0 {
		return phonefleet.Errorf(phonefleet.EConflict, "import needs a store without tenants; this one has %d", n)
	}

	// No tenant means no order or instance refers to the catalogue.
	if _, err := tx.ExecContext(ctx, `DELETE FROM skus`); err != nil {
		return fmt.Errorf("delete default skus: %w", err)
	}
	for _, k := range s.SKUs {
		if err := insertSKU(ctx, tx, k); err != nil {
			return fmt.Errorf("import sku %s: %w", k.ID, err)
		}
	}
	for _, t := range s.Tenants {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO tenants (id, name, created_at, max_instances)
			VALUES (?, ?, ?, ?)
		`, t.ID, t.Name, formatTime(t.CreatedAt), t.MaxInstances); err != nil {
			return fmt.Errorf("import tenant %s: %w", t.ID, formatError(err))
		}
	}
	for _, u := range s.Users {
		c := *u
		if err := createUser(ctx, tx, &c, false); err != nil {
			return fmt.Errorf("import user %s: %w", u.ID, err)
		}
	}
	for _, k := range s.AccessKeys {
		c := *k
		if err := createAccessKey(ctx, tx, &c); err != nil {
			return fmt.Errorf("import access key %s: %w", k.ID, err)
		}
	}
	for _, t := range s.Tokens {
		if err := insertToken(ctx, tx, t); err != nil {
			return fmt.Errorf("import token %s: %w", t.ID, err)
		}
	}
	for _, o := range s.Orders {
		if err := insertOrder(ctx, tx, o); err != nil {
			return fmt.Errorf("import order %s: %w", o.ID, formatError(err))
		}
	}
	if err := insertInstances(ctx, tx, s.Instances); err != nil {
		return fmt.Errorf("import instances: %w", formatError(err))
	}
	if _, err := tx.ExecContext(ctx, countHeldInstances); err != nil {
		return fmt.Errorf("count held instances: %w", err)
	}
	if err := importRefunds(ctx, tx, s.Refunds); err != nil {
		return err
	}
	if err := insertCommands(ctx, tx, s.Commands); err != nil {
		return fmt.Errorf("import commands: %w", err)
	}
	for _, e := range s.AuditEvents {
		c := *e // insertAuditEvent sets the new ID
		if err := insertAuditEvent(ctx, tx, &c); err != nil {
			return fmt.Errorf("import audit event %d: %w", e.ID, err)
		}
	}
	return nil
}

// importRefunds inserts refunds as they are.
func importRefunds(ctx context.Context, tx *Tx, rs []*phonefleet.Refund) error {
	stmt, err := tx.PrepareContext(ctx, `
		INSERT INTO refunds (instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
	`)
	if err != nil {
		return fmt.Errorf("prepare import refund: %w", err)
	}
	defer stmt.Close()
	for _, r := range rs {
		if _, err := stmt.ExecContext(ctx, r.InstanceID, r.TenantID, r.OrderID, r.Paid, r.Consumed, r.Fee,
			r.Amount, r.Currency, r.RequestID, formatTime(r.CreatedAt)); err != nil {
			return fmt.Errorf("import refund %s: %w", r.InstanceID, formatError(err))
		}
	}
	return nil
}

// findAllOrders returns every order.
func findAllOrders(ctx context.Context, tx *Tx) ([]*phonefleet.Order, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT id, tenant_id, sku_id, region_id, os, band_size, billing_mode, period_num,
		       count, unit_price, total, currency, auto_pay, auto_renew, request_id, created_at
		FROM orders
	`)
	if err != nil {
		return nil, fmt.Errorf("query orders: %w", err)
	}
	defer rows.Close()

	var out []*phonefleet.Order
	for rows.Next() {
		var o phonefleet.Order
		var mode, createdAt string
		if err := rows.Scan(&o.ID, &o.TenantID, &o.SKUID, &o.RegionID, &o.OS, &o.BandSize, &mode, &o.PeriodNum,
			&o.Count, &o.UnitPrice, &o.Total, &o.Currency, &o.AutoPay, &o.AutoRenew, &o.RequestID, &createdAt); err != nil {
			return nil, fmt.Errorf("scan order: %w", err)
		}
		o.BillingMode = phonefleet.BillingMode(mode)
		if o.CreatedAt, err = parseTime(createdAt); err != nil {
			return nil, err
		}
		out = append(out, &o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query orders: %w", err)
	}
	return out, nil
}

// findAllInstances returns every instance of every tenant.
func findAllInstances(ctx context.Context, tx *Tx) ([]*phonefleet.Instance, error) {
	rows, err := tx.QueryContext(ctx, `
		SELECT `+instanceColumns+`
		FROM `+instanceTables+`
	`)
	if err != nil {
		return nil, fmt.Errorf("query instances: %w", err)
	}
	defer rows.Close()

	var out []*phonefleet.Instance
	for rows.Next() {
		in, err := scanInstance(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, in)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("query instances: %w", err)
	}
	return out, nil
}
