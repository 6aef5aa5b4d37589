package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/phonefleet/phonefleet"
)

var (
	_ phonefleet.SnapshotService  = (*DB)(nil)
	_ phonefleet.SnapshotStreamer = (*DB)(nil)
)

// Export reads every row in one read transaction (one WAL snapshot). Rows
// are ordered by ID (refunds by instance ID), compared as bytes so that
// every backend exports the same order; audit events are oldest first.
// Command leases are left out. It holds the whole installation in memory:
// copies use ExportBatches.
func (db *DB) Export(ctx context.Context) (*phonefleet.Snapshot, error) {
	s := &phonefleet.Snapshot{Tenants: []*phonefleet.Tenant{}, Users: []*phonefleet.User{}, AccessKeys: []*phonefleet.AccessKey{},
		Tokens: []*phonefleet.Token{}, SKUs: []*phonefleet.SKU{}, Orders: []*phonefleet.Order{}, Instances: []*phonefleet.Instance{},
		Refunds: []*phonefleet.Refund{}, Commands: []*phonefleet.Command{}, AuditEvents: []*phonefleet.AuditEvent{}}
	if err := db.ExportBatches(ctx, func(b *phonefleet.Snapshot) error {
		s.Append(b)
		return nil
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// ExportBatches streams every row, in batches of at most
// phonefleet.SnapshotBatchRows, from one read transaction, in Export's
// order. The tables that grow with the installation (orders, instances,
// refunds, commands, audit events) are read row by row; the others
// (tenants and their users, keys and tokens, the catalogue) whole.
func (db *DB) ExportBatches(ctx context.Context, fn func(*phonefleet.Snapshot) error) error {
	tx, err := db.beginTx(ctx, false)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	tenants, err := findTenants(ctx, tx, "")
	if err != nil {
		return err
	}
	users, err := findUsers(ctx, tx, "")
	if err != nil {
		return err
	}
	keys, err := findAccessKeys(ctx, tx, "")
	if err != nil {
		return err
	}
	tokens, err := findTokens(ctx, tx, "")
	if err != nil {
		return err
	}
	skus, err := findSKUs(ctx, tx, "")
	if err != nil {
		return err
	}
	small := &phonefleet.Snapshot{Tenants: tenants, Users: users, AccessKeys: keys, Tokens: tokens, SKUs: skus}
	small.Sort()
	for _, emit := range []func() error{
		func() error {
			return phonefleet.EmitBatches(small.Tenants,
				func(s *phonefleet.Snapshot, v []*phonefleet.Tenant) { s.Tenants = v }, fn)
		},
		func() error {
			return phonefleet.EmitBatches(small.Users,
				func(s *phonefleet.Snapshot, v []*phonefleet.User) { s.Users = v }, fn)
		},
		func() error {
			return phonefleet.EmitBatches(small.AccessKeys,
				func(s *phonefleet.Snapshot, v []*phonefleet.AccessKey) { s.AccessKeys = v }, fn)
		},
		func() error {
			return phonefleet.EmitBatches(small.Tokens,
				func(s *phonefleet.Snapshot, v []*phonefleet.Token) { s.Tokens = v }, fn)
		},
		func() error {
			return phonefleet.EmitBatches(small.SKUs,
				func(s *phonefleet.Snapshot, v []*phonefleet.SKU) { s.SKUs = v }, fn)
		},
		func() error {
			return streamRows(ctx, tx, `SELECT `+orderColumns+` FROM orders ORDER BY id`, scanOrder,
				func(s *phonefleet.Snapshot, v []*phonefleet.Order) { s.Orders = v }, fn)
		},
		func() error {
			return streamRows(ctx, tx, `SELECT `+instanceColumns+` FROM `+instanceTables+` ORDER BY i.id`,
				func(rows *sql.Rows) (*phonefleet.Instance, error) { return scanInstance(rows) },
				func(s *phonefleet.Snapshot, v []*phonefleet.Instance) { s.Instances = v }, fn)
		},
		func() error {
			return streamRows(ctx, tx, `SELECT `+refundColumns+` FROM refunds ORDER BY instance_id`, scanRefund,
				func(s *phonefleet.Snapshot, v []*phonefleet.Refund) { s.Refunds = v }, fn)
		},
		func() error {
			// Pages by ID: the command query has its own scanner.
			after := ""
			for {
				page, err := findCommands(ctx, tx, []string{"c.id > ?"}, []any{after}, "c.id", phonefleet.SnapshotBatchRows)
				if err != nil || len(page) == 0 {
					return err
				}
				if err := fn(&phonefleet.Snapshot{Commands: page}); err != nil {
					return err
				}
				after = page[len(page)-1].ID
			}
		},
		func() error {
			return streamRows(ctx, tx, `SELECT `+auditColumns+` FROM audit_events e LEFT JOIN tenants t ON t.id = e.tenant_id ORDER BY e.id`,
				scanAuditEvent, func(s *phonefleet.Snapshot, v []*phonefleet.AuditEvent) { s.AuditEvents = v }, fn)
		},
	} {
		if err := emit(); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return nil
}

// streamRows runs query in tx and passes its rows to fn in batches of at
// most phonefleet.SnapshotBatchRows, each put into a fresh Snapshot by set.
func streamRows[T any](ctx context.Context, tx *Tx, query string, scan func(*sql.Rows) (T, error), set func(*phonefleet.Snapshot, []T), fn func(*phonefleet.Snapshot) error) error {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	batches := phonefleet.NewSnapshotBatcher(set, fn)
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return err
		}
		if err := batches.Add(v); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	return batches.Flush()
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
	imp, err := db.BeginImport(ctx)
	if err != nil {
		return err
	}
	defer imp.Rollback()
	if err := imp.Write(ctx, s); err != nil {
		return err
	}
	return imp.Commit(ctx)
}

// snapshotImport is an import's transaction on the writer connection.
type snapshotImport struct {
	tx   *Tx
	done bool
}

// BeginImport starts an import: one write transaction on the single writer
// connection (other writes wait for it), which checks that the store has
// no tenants and removes the default catalogue.
func (db *DB) BeginImport(ctx context.Context) (phonefleet.SnapshotImport, error) {
	tx, err := db.beginTx(ctx, true)
	if err != nil {
		return nil, err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM tenants`).Scan(&n); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("count tenants: %w", err)
	} else if n > 0 {
		tx.Rollback()
		return nil, phonefleet.Errorf(phonefleet.EConflict, "import needs a store without tenants; this one has %d", n)
	}
	// No tenant means no order or instance refers to the catalogue.
	if _, err := tx.ExecContext(ctx, `DELETE FROM skus`); err != nil {
		tx.Rollback()
		return nil, fmt.Errorf("delete default skus: %w", err)
	}
	return &snapshotImport{tx: tx}, nil
}

// Write inserts the batch's rows, parents first, so every foreign key
// holds as it is written.
func (imp *snapshotImport) Write(ctx context.Context, s *phonefleet.Snapshot) error {
	if err := s.Validate(); err != nil {
		return err
	}
	tx := imp.tx
	for _, k := range s.SKUs {
		if err := insertSKU(ctx, tx, k); err != nil {
			return fmt.Errorf("import sku %s: %w", k.ID, err)
		}
	}
	for _, t := range s.Tenants {
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO tenants (id, name, created_at, max_instances, suspended_at, grace_period_ns, retention_period_ns)
			VALUES (?, ?, ?, ?, ?, ?, ?)
		`, t.ID, t.Name, formatTime(t.CreatedAt), t.MaxInstances, formatNullTime(t.SuspendedAt), periodArg(t.GracePeriod), periodArg(t.RetentionPeriod)); err != nil {
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

// Commit counts what each tenant holds and commits.
func (imp *snapshotImport) Commit(ctx context.Context) error {
	if _, err := imp.tx.ExecContext(ctx, countHeldInstances); err != nil {
		return fmt.Errorf("count held instances: %w", err)
	}
	imp.done = true
	if err := imp.tx.sqlTx.Commit(); err != nil {
		return fmt.Errorf("commit import: %w", err)
	}
	return imp.tx.db.syncWAL()
}

// Rollback abandons the import.
func (imp *snapshotImport) Rollback() error {
	if imp.done {
		return nil
	}
	imp.done = true
	return imp.tx.Rollback()
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

// orderColumns are the columns scanOrder reads.
const orderColumns = `id, tenant_id, sku_id, region_id, os, band_size, billing_mode, period_num,
		       count, unit_price, total, currency, auto_pay, auto_renew, request_id, request_digest, created_at`

func scanOrder(rows *sql.Rows) (*phonefleet.Order, error) {
	var o phonefleet.Order
	var mode, createdAt string
	if err := rows.Scan(&o.ID, &o.TenantID, &o.SKUID, &o.RegionID, &o.OS, &o.BandSize, &mode, &o.PeriodNum,
		&o.Count, &o.UnitPrice, &o.Total, &o.Currency, &o.AutoPay, &o.AutoRenew, &o.RequestID, &o.RequestDigest, &createdAt); err != nil {
		return nil, fmt.Errorf("scan order: %w", err)
	}
	o.BillingMode = phonefleet.BillingMode(mode)
	var err error
	if o.CreatedAt, err = parseTime(createdAt); err != nil {
		return nil, err
	}
	return &o, nil
}
