package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/phonefleet/phonefleet"
)

var (
	_ phonefleet.SnapshotService  = (*DB)(nil)
	_ phonefleet.SnapshotStreamer = (*DB)(nil)
)

// Export reads every row in one REPEATABLE READ, read-only transaction (one
// consistent snapshot while nodes keep writing). Rows are ordered by ID
// (refunds by instance ID) compared as bytes, the order every backend
// exports; audit events are oldest first. Command leases are left out. It
// holds the whole installation in memory: copies use ExportBatches.
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
// phonefleet.SnapshotBatchRows, from one REPEATABLE READ, read-only
// transaction; rows come in Export's order, sorted by the server.
func (db *DB) ExportBatches(ctx context.Context, fn func(*phonefleet.Snapshot) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback(context.Background())
	if err := unboundTx(ctx, tx); err != nil {
		return err
	}
	if err := streamTable(ctx, tx, `SELECT `+tenantColumns+` FROM tenants ORDER BY id COLLATE "C"`,
		func(row pgx.CollectableRow) (*phonefleet.Tenant, error) {
			var t phonefleet.Tenant
			return &t, row.Scan(tenantDest(&t)...)
		}, func(s *phonefleet.Snapshot, v []*phonefleet.Tenant) { s.Tenants = v }, fn); err != nil {
		return fmt.Errorf("export tenants: %w", err)
	}
	if err := streamTable(ctx, tx, `SELECT `+userColumns+` FROM users u JOIN tenants t ON t.id = u.tenant_id ORDER BY u.id COLLATE "C"`,
		scanUser, func(s *phonefleet.Snapshot, v []*phonefleet.User) { s.Users = v }, fn); err != nil {
		return fmt.Errorf("export users: %w", err)
	}
	if err := streamTable(ctx, tx, `SELECT `+accessKeyColumns+accessKeyFrom+` ORDER BY k.id COLLATE "C"`,
		scanAccessKey, func(s *phonefleet.Snapshot, v []*phonefleet.AccessKey) { s.AccessKeys = v }, fn); err != nil {
		return fmt.Errorf("export access keys: %w", err)
	}
	if err := streamTable(ctx, tx, `SELECT `+tokenColumns+` FROM tokens k JOIN tenants t ON t.id = k.tenant_id LEFT JOIN users u ON u.id = k.user_id ORDER BY k.id COLLATE "C"`,
		scanToken, func(s *phonefleet.Snapshot, v []*phonefleet.Token) { s.Tokens = v }, fn); err != nil {
		return fmt.Errorf("export tokens: %w", err)
	}
	if err := streamTable(ctx, tx, `SELECT `+skuColumns+` FROM skus s ORDER BY s.id COLLATE "C"`,
		scanSKU, func(s *phonefleet.Snapshot, v []*phonefleet.SKU) { s.SKUs = v }, fn); err != nil {
		return fmt.Errorf("export skus: %w", err)
	}
	if err := streamTable(ctx, tx, `
		SELECT id, tenant_id, sku_id, region_id, os, band_size, billing_mode, period_num,
			count, unit_price, total, currency, auto_pay, auto_renew, request_id, request_digest, created_at
		FROM orders ORDER BY id COLLATE "C"`,
		scanOrder, func(s *phonefleet.Snapshot, v []*phonefleet.Order) { s.Orders = v }, fn); err != nil {
		return fmt.Errorf("export orders: %w", err)
	}
	if err := streamTable(ctx, tx, `SELECT `+instanceColumns+` FROM `+instanceTables+` ORDER BY i.id COLLATE "C"`,
		func(row pgx.CollectableRow) (*phonefleet.Instance, error) {
			var in phonefleet.Instance
			return &in, row.Scan(instanceDest(&in)...)
		}, func(s *phonefleet.Snapshot, v []*phonefleet.Instance) { s.Instances = v }, fn); err != nil {
		return fmt.Errorf("export instances: %w", err)
	}
	if err := streamTable(ctx, tx, `
		SELECT instance_id, tenant_id, order_id, paid, consumed, fee, amount, currency, request_id, created_at
		FROM refunds ORDER BY instance_id COLLATE "C"`,
		scanRefund, func(s *phonefleet.Snapshot, v []*phonefleet.Refund) { s.Refunds = v }, fn); err != nil {
		return fmt.Errorf("export refunds: %w", err)
	}
	if err := streamTable(ctx, tx, `SELECT `+commandColumns+` FROM commands c JOIN tenants t ON t.id = c.tenant_id ORDER BY c.id COLLATE "C"`,
		scanCommand, func(s *phonefleet.Snapshot, v []*phonefleet.Command) { s.Commands = v }, fn); err != nil {
		return fmt.Errorf("export commands: %w", err)
	}
	if err := streamTable(ctx, tx, `SELECT `+auditColumns+` FROM audit_events e LEFT JOIN tenants t ON t.id = e.tenant_id ORDER BY e.id`,
		scanAuditEvent, func(s *phonefleet.Snapshot, v []*phonefleet.AuditEvent) { s.AuditEvents = v }, fn); err != nil {
		return fmt.Errorf("export audit events: %w", err)
	}
	return nil
}

// streamTable runs sql in tx and passes its rows to fn in batches of at most
// phonefleet.SnapshotBatchRows, each put into a fresh Snapshot by set.
func streamTable[T any](ctx context.Context, tx pgx.Tx, sql string, scan pgx.RowToFunc[T], set func(*phonefleet.Snapshot, []T), fn func(*phonefleet.Snapshot) error) error {
	rows, err := tx.Query(ctx, sql)
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
// event ID, without a lease. Audit events are appended in the order of s
// with new IDs. On any error nothing changes. s is not modified.
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

// snapshotImport is an import's transaction on PostgreSQL.
type snapshotImport struct {
	tx pgx.Tx
}

// BeginImport starts an import: one transaction, without the request
// timeouts, that holds the tenants table against concurrent writers,
// checks it is empty and removes the default catalogue.
func (db *DB) BeginImport(ctx context.Context) (phonefleet.SnapshotImport, error) {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", err)
	}
	if err := unboundTx(ctx, tx); err != nil {
		tx.Rollback(context.Background())
		return nil, err
	}
	if err := beginImport(ctx, tx); err != nil {
		tx.Rollback(context.Background())
		return nil, err
	}
	return &snapshotImport{tx: tx}, nil
}

func beginImport(ctx context.Context, tx pgx.Tx) error {
	// Keep a concurrent import or tenant creation from slipping in between
	// the check and the commit.
	if _, err := tx.Exec(ctx, `LOCK TABLE tenants IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return fmt.Errorf("lock tenants: %w", err)
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM tenants`).Scan(&n); err != nil {
		return fmt.Errorf("count tenants: %w", err)
	} else if n > 0 {
		return phonefleet.Errorf(phonefleet.EConflict, "import needs a store without tenants; this one has %d", n)
	}
	// No tenant means no order or instance refers to the catalogue.
	if _, err := tx.Exec(ctx, `DELETE FROM sku_regions`); err != nil {
		return fmt.Errorf("delete default sku regions: %w", err)
	} else if _, err := tx.Exec(ctx, `DELETE FROM skus`); err != nil {
		return fmt.Errorf("delete default skus: %w", err)
	}
	return nil
}

// Write copies the batch's rows in, parents first, with COPY.
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

	copies := []struct {
		table string
		cols  []string
		n     int
		row   func(i int) []any
	}{
		{"tenants", []string{"id", "name", "created_at", "max_instances", "suspended_at", "grace_period_ns", "retention_period_ns"}, len(s.Tenants), func(i int) []any {
			t := s.Tenants[i]
			return []any{t.ID, t.Name, t.CreatedAt, t.MaxInstances, t.SuspendedAt, periodNs(t.GracePeriod), periodNs(t.RetentionPeriod)}
		}},
		{"users", []string{"id", "tenant_id", "name", "role", "password_hash", "disabled", "created_at", "updated_at"}, len(s.Users), func(i int) []any {
			u := s.Users[i]
			return []any{u.ID, u.TenantID, u.Name, u.Role, u.PasswordHash, u.Disabled, u.CreatedAt, u.UpdatedAt}
		}},
		{"access_keys", []string{"id", "tenant_id", "user_id", "secret", "created_at"}, len(s.AccessKeys), func(i int) []any {
			k := s.AccessKeys[i]
			return []any{k.ID, k.TenantID, k.UserID, k.Secret, k.CreatedAt}
		}},
		{"tokens", []string{"id", "tenant_id", "user_id", "name", "hash", "actions", "created_at", "expires_at", "revoked_at"}, len(s.Tokens), func(i int) []any {
			t := s.Tokens[i]
			return []any{t.ID, t.TenantID, nullString(t.UserID), t.Name, t.Hash, t.Actions, t.CreatedAt, t.ExpiresAt, t.RevokedAt}
		}},
		{"orders", []string{"id", "tenant_id", "sku_id", "region_id", "os", "band_size", "billing_mode", "period_num",
			"count", "unit_price", "total", "currency", "auto_pay", "auto_renew", "request_id", "request_digest", "created_at"}, len(s.Orders), func(i int) []any {
			o := s.Orders[i]
			return []any{o.ID, o.TenantID, o.SKUID, o.RegionID, o.OS, o.BandSize, string(o.BillingMode), o.PeriodNum,
				o.Count, o.UnitPrice, o.Total, o.Currency, o.AutoPay, o.AutoRenew, o.RequestID, o.RequestDigest, o.CreatedAt}
		}},
		{"instances", instanceCopyColumns, len(s.Instances), func(i int) []any { return instanceCopyRow(s.Instances[i]) }},
		{"refunds", []string{"instance_id", "tenant_id", "order_id", "paid", "consumed", "fee", "amount", "currency", "request_id", "created_at"}, len(s.Refunds), func(i int) []any {
			r := s.Refunds[i]
			return []any{r.InstanceID, r.TenantID, r.OrderID, r.Paid, r.Consumed, r.Fee, r.Amount, r.Currency, r.RequestID, r.CreatedAt}
		}},
		{"commands", commandCopyColumns, len(s.Commands), func(i int) []any { return commandCopyRow(s.Commands[i]) }},
		// Audit events get new IDs from the identity column, in the order
		// COPY sends them: the order of s.
		{"audit_events", []string{"at", "tenant_id", "token_id", "user_name", "client_addr", "action", "request_id", "instance_ids", "error_code", "detail", "actor", "dry_run"}, len(s.AuditEvents), func(i int) []any {
			e := s.AuditEvents[i]
			ids := e.InstanceIDs
			if ids == nil {
				ids = []string{}
			}
			return []any{e.At, nullString(e.TenantID), nullString(e.TokenID), e.UserName, e.ClientAddr, e.Action, e.RequestID, ids, e.ErrorCode, e.Detail, e.Actor, e.DryRun}
		}},
	}
	for _, c := range copies {
		if c.n == 0 {
			continue
		}
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromSlice(c.n, func(i int) ([]any, error) {
			return c.row(i), nil
		})); err != nil {
			return fmt.Errorf("import %s: %w", c.table, err)
		}
	}
	return nil
}

// Commit counts what each tenant holds from its instances rather than
// trust the snapshot's counts, and commits.
func (imp *snapshotImport) Commit(ctx context.Context) error {
	if _, err := imp.tx.Exec(ctx, `
		UPDATE tenants SET held_instances = (
			SELECT COUNT(*) FROM instances WHERE instances.tenant_id = tenants.id AND instances.state <> 'released'
		)`); err != nil {
		return fmt.Errorf("count held instances: %w", err)
	}
	if err := imp.tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit import: %w", err)
	}
	return nil
}

// Rollback abandons the import.
func (imp *snapshotImport) Rollback() error {
	err := imp.tx.Rollback(context.Background())
	if errors.Is(err, pgx.ErrTxClosed) {
		return nil
	}
	return err
}

// unboundTx lifts the request timeouts for the rest of tx: a whole
// installation may take longer to read or write than any request. Only the
// caller's context bounds it.
func unboundTx(ctx context.Context, tx pgx.Tx) error {
	if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0; SET LOCAL idle_in_transaction_session_timeout = 0`); err != nil {
		return fmt.Errorf("lift timeouts: %w", err)
	}
	return nil
}

func scanOrder(row pgx.CollectableRow) (*phonefleet.Order, error) {
	var o phonefleet.Order
	err := row.Scan(&o.ID, &o.TenantID, &o.SKUID, &o.RegionID, &o.OS, &o.BandSize, &o.BillingMode, &o.PeriodNum,
		&o.Count, &o.UnitPrice, &o.Total, &o.Currency, &o.AutoPay, &o.AutoRenew, &o.RequestID, &o.RequestDigest, &o.CreatedAt)
	return &o, err
}
